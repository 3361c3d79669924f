# The evana server image: one image for the API (uvicorn) and the workers (evana worker).
#   docker build -t evana .
#   docker run -e EVANA_DATABASE_URL=... -e EVANA_NATS_URL=... evana evana worker

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY evana ./evana
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --find-links /wheels "evana[server,cli]" && rm -rf /wheels \
    && useradd --create-home --uid 10001 evana
USER evana
WORKDIR /home/evana
ENV PYTHONUNBUFFERED=1
# 8000: the API; 9464: a worker's Prometheus metrics.
EXPOSE 8000 9464
CMD ["uvicorn", "--factory", "evana.server:create_app", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers"]
