FROM scratch
CMD ["/bin/app", "--flag=1", "with space", "uni\u00e9", "esc\"quote"]
CMD [ "spaced" , "json" ]   
ENTRYPOINT ["a" "b"]
ENTRYPOINT [ 'single', 'quotes' ]
CMD [not json at all
CMD []
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN ["/bin/true"]
RUN [ "echo", "ok" ] trailing
COPY ["a b.txt", "c.txt", "/dest dir/"]
ADD ["https://example.com/x.tgz", "/opt/"]
HEALTHCHECK CMD curl -f http://localhost/ || exit 1
HEALTHCHECK --start-period=5s --start-interval=1s CMD ["true"]
HEALTHCHECK NONE
