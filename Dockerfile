# Production image: the single tally binary. PostgreSQL comes from
# docker-compose.yml (TimescaleDB image) through DATABASE_URL.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /tally .

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates nodejs npm \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /tally /usr/local/bin/tally
ENV TALLY_LISTEN=0.0.0.0:8080 TALLY_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["tally"]
CMD ["serve"]
