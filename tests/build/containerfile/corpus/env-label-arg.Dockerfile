ARG REGISTRY=docker.io
ARG IMAGE
FROM ${REGISTRY}/library/${IMAGE:-busybox}:latest
ENV A=1 B="two words" C='single $quoted' D=escaped\ space E=
ENV LEGACY value with    spaces
ENV "QUOTED"=key
ENV MULTI=a \
    OTHER=b
LABEL version="1.0" description="This is \"quoted\"" \
      "com.example.key with space"=yes
LABEL single=label
ARG WITH_DEFAULT=default NO_DEFAULT EMPTY= QUOTED="q v"
ARG UNICODE=héllo
MAINTAINER Someone <someone@example.com>
ENV PATH=$PATH:/opt/bin HOME=/root
