# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
WORKDIR C:\app
COPY testfile.txt C:\
RUN dir c:\ `
    && echo done
ENV PATH="C:\tools;${PATH}"
RUN powershell -Command `
    $ErrorActionPreference = 'Stop'; `
    Write-Host hi
