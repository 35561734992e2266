# a plain comment first
# escape=`
FROM busybox
RUN echo stays \
    continued with backslash
