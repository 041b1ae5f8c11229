# The controller and cache agent image: `translator controller`, `translator cache-agent`, ...
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY translator ./translator
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# git reads pipeline files from repositories at trigger time
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 65532 --user-group --no-create-home --home-dir /tmp translator
COPY --from=build /install /usr/local
ENV HOME=/tmp PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
ENTRYPOINT ["translator"]
CMD ["controller"]
