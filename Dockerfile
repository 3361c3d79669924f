# The evana server image: one image for the API (uvicorn) and the workers (evana worker).
#   docker build -t evana .
#   docker run -e EVANA_DATABASE_URL=... -e EVANA_NATS_URL=... evana evana worker

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY evana ./evana
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
# The dependencies in a layer of their own, keyed on pyproject.toml and constraints.txt alone (a
# change to the code rebuilds the small layer below, not this one), at the versions CI tested.
COPY pyproject.toml constraints.txt docker/requirements.py /tmp/evana/
RUN python /tmp/evana/requirements.py /tmp/evana/pyproject.toml server cli \
        > /tmp/evana/requirements.txt \
    && pip install --no-cache-dir -r /tmp/evana/requirements.txt -c /tmp/evana/constraints.txt \
    && rm -rf /tmp/evana \
    && useradd --create-home --uid 10001 evana
COPY --from=build /wheels /wheels
# --no-index: every dependency is in already, and no other "evana" can come in from an index.
RUN pip install --no-cache-dir --no-index --find-links /wheels "evana[server,cli]" \
    && rm -rf /wheels
USER evana
WORKDIR /home/evana
ENV PYTHONUNBUFFERED=1
# 8000: the API; 9464: a worker's Prometheus metrics.
EXPOSE 8000 9464
CMD ["uvicorn", "--factory", "evana.server:create_app", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers"]
