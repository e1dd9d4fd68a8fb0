# The Sluice controller image: `sluice install` and `sluice bootstrap` run it as
# one Deployment per controller (`sluice controllers run --controllers=<name>`).
#
#   docker build -t ghcr.io/sluice-gitops/sluice:v$(python -c 'import sluice; print(sluice.__version__)') .
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.12-slim
# git is not needed: pygit2 wheels carry libgit2. ca-certificates for HTTPS sources.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 65532 --user-group --no-create-home --home-dir /nonexistent sluice
COPY --from=build /install /usr/local
USER 65532:65532
ENV HOME=/tmp
EXPOSE 8080 9090 9292
ENTRYPOINT ["sluice"]
CMD ["controllers", "run"]
