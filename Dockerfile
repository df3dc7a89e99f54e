# Countersign portal. Build: docker build -t countersign .
# Run:   docker run -p 8501:8501 -v "$PWD/workspace:/workspace" countersign
#        (the volume holds countersign.toml, the catalog, keys and exports; try the demo with
#         docker run --rm -v "$PWD/workspace:/workspace" countersign countersign demo --workspace /workspace)
# The image holds the run-time pins (requirements.txt) and the countersign wheel, nothing of the tests.

# --- stage 1: build the wheel from the checkout ---------------------------------------------------------------
FROM python:3.11.7-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# the whole checkout (.dockerignore leaves out .git, virtualenvs, workspaces, build leftovers); only the wheel leaves
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# --- stage 2: the run-time image ------------------------------------------------------------------------------
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COUNTERSIGN_WORKSPACE=/workspace

WORKDIR /app
# the run-time pins only (requirements-dev.txt, with the test tools, never enters the image)
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY --from=build /dist/ /tmp/dist/
RUN pip install --no-cache-dir --no-deps /tmp/dist/countersign-*.whl \
    && rm -rf /tmp/dist \
    && useradd --create-home --uid 10001 countersign \
    && mkdir -p /workspace \
    && chown 10001:10001 /workspace

USER 10001:10001
WORKDIR /workspace
VOLUME ["/workspace"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"]
CMD ["countersign", "serve", "--workspace", "/workspace", "--address", "0.0.0.0", "--port", "8501"]
