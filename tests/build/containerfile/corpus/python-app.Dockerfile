# syntax=docker/dockerfile:1.7
# check=skip=JSONArgsRecommended;error=true

ARG PYTHON_VERSION=3.11
ARG BASE=python:${PYTHON_VERSION}-slim

FROM ${BASE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY --link requirements.txt ./
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels -r requirements.txt
COPY . .
RUN python -m build --wheel --outdir /wheels .

FROM ${BASE}
LABEL org.opencontainers.image.title="demo app" \
      org.opencontainers.image.source=https://example.com/demo \
      maintainer="Jane Doe <jane@example.com>"
RUN groupadd --system app && useradd --system --gid app --home /app app
COPY --from=builder --chown=app:app /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
USER app:app
EXPOSE 8000/tcp
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8000/health')"]
ENTRYPOINT ["gunicorn", "--bind", "0.0.0.0:8000"]
CMD ["demo.wsgi:app"]
