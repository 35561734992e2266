FROM --platform=linux/arm64 alpine AS base
RUN --mount=type=bind,source=.,target=/src --mount=type=cache,target=/var/cache/apk,sharing=locked --network=none apk add x
RUN --mount="type=secret,id=token" cat /run/secrets/token
RUN --security=insecure -- echo after double dash
COPY --from=base --chown=1000:1000 --chmod=644 --link /a /b
COPY --parents --exclude=*.md --exclude=*.txt src/ /dst/
ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://example.com/f /f
ADD --keep-git-dir=true https://github.com/example/repo.git /repo
RUN --mount type=tmpfs echo space separated is not a flag value
RUN -- echo only a double dash
RUN --no-value-flag echo x
