#ESCAPE = `
#  Syntax=example/frontend:1   
FROM busybox
RUN echo a `
    b
RUN echo c \
