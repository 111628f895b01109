# syntax=docker/dockerfile:1
# certgate: install the package (migrations included, as `certgate_migrations`) into a virtualenv in
# one stage; run it as an unprivileged user in another, from any working directory.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/certgate
COPY pyproject.toml setup.py README.md ./
COPY service ./service
COPY policies ./policies
COPY alembic ./alembic
RUN /opt/certgate/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/certgate/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm AS runtime
RUN useradd --system --uid 10001 --home-dir /var/lib/certgate --create-home certgate
COPY --from=build /opt/certgate /opt/certgate
WORKDIR /var/lib/certgate
ENV PATH=/opt/certgate/bin:$PATH \
    CERTGATE_DATA_DIR=/var/lib/certgate/data \
    PYTHONUNBUFFERED=1
USER certgate
VOLUME ["/var/lib/certgate"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
ENTRYPOINT ["certgate"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
