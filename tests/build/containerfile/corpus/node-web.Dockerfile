FROM node:20-bookworm-slim
ENV NODE_ENV production
ENV PATH /app/node_modules/.bin:$PATH
WORKDIR /app
COPY ["package.json", "package-lock.json*", "./"]
RUN npm ci --omit=dev \
 # remove the cache to keep the layer small
 && npm cache clean --force

COPY --chown=node:node . .
VOLUME ["/app/data", "/app/logs"]
VOLUME /tmp/cache /var/cache
EXPOSE 3000 9229/udp
USER node
CMD node server.js
