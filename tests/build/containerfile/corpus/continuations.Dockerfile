FROM alpine:3.19
RUN apk add --no-cache \
        curl \
# a comment inside a continuation
        jq \

        git \
    && echo done
RUN echo "trailing blanks after the backslash" \   
    && echo ok
RUN echo escaped backslash at end \\
RUN echo next instruction
  # indented comment line
	RUN    echo   "leading tab and spaces"
run echo lower case keyword
Env lower=case
RUN \
    echo started on the next line
