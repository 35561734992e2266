FROM busybox
ONBUILD ADD . /app/src
ONBUILD RUN cd /app/src && make
ONBUILD COPY --from=x /a /b
ONBUILD ENV A=1
STOPSIGNAL 9
WORKDIR /a/b c
USER root
EXPOSE 80
VOLUME /data
SHELL ["cmd", "/S", "/C"]
RUN echo "# not a comment"   # also not a comment
