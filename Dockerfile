# The platform image: every service, the query API, the console, relays and projectors run from it
# (`annals services serve orders`, `annals publish orders`, `annals projections run ...`).
# Dependencies come from uv.lock only (`uv sync --locked`), so the image has exactly what CI tested.
# Not built on the development machine (it has no image builder); see README, section Docker.

FROM node:22-bookworm-slim AS assets
WORKDIR /src/deploy/console
COPY deploy/console/package.json deploy/console/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim-bookworm AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/annals UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
# Dependencies first (a layer that changes only with uv.lock), then the platform itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-install-project --python /usr/local/bin/python3
COPY libs libs
COPY services services
COPY schemas schemas
COPY deploy/connect deploy/connect
COPY --from=assets /src/deploy/console/node_modules/htmx.org/dist/htmx.min.js libs/annals/console/static/vendor/htmx.min.js
COPY --from=assets /src/deploy/console/node_modules/uplot/dist/uPlot.iife.min.js /src/deploy/console/node_modules/uplot/dist/uPlot.min.css libs/annals/console/static/vendor/
RUN uv sync --locked --python /usr/local/bin/python3

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 annals \
 && useradd --system --uid 10001 --gid annals --home-dir /app --shell /usr/sbin/nologin annals
COPY --from=build /opt/annals /opt/annals
COPY --from=build --chown=root:root /app /app
WORKDIR /app
ENV PATH=/opt/annals/bin:$PATH PYTHONUNBUFFERED=1 ANNALS_STACK_DIR=/tmp/annals-stack
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["annals"]
CMD ["--help"]
