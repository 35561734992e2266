# syntax=docker/dockerfile:1
FROM debian:bookworm
RUN <<EOF
set -eu
apt-get update
apt-get install -y --no-install-recommends curl
EOF
RUN <<-"SCRIPT" bash -e
	echo "not expanded: $HOME"
		echo twice indented
	SCRIPT
COPY <<conf1 <<'conf2' /etc/app/
listen=${PORT}
conf1
raw=$HOME
conf2
COPY --chmod=0755 <<EOT /usr/local/bin/entry
#!/bin/sh
exec "$@"
EOT
RUN python3 <<PY && \
    echo after
print("hello")
PY
RUN cat 3<<A 4<<B
fd three
A
fd four
B
RUN ["echo", "<<NOTHEREDOC"]
ONBUILD RUN <<EOF
echo trigger
EOF
RUN echo '<<notheredoc' "<<nor this"
RUN <<E"O"F cat
partly quoted
EOF
ADD <<EOF /empty
EOF
RUN <<EOF
EOF
