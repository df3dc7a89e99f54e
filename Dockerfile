# Countersign portal. Build: docker build -t countersign .
# Run:   docker run -p 8501:8501 -v "$PWD/workspace:/workspace" countersign
#        (the volume holds countersign.toml, the catalog, keys and exports; try the demo with
#         docker run --rm -v "$PWD/workspace:/workspace" countersign countersign demo --workspace /workspace)
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COUNTERSIGN_WORKSPACE=/workspace

WORKDIR /app
# the same exact pins as every other install
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY pyproject.toml README.md ./
COPY core ./core
COPY governance ./governance
COPY connectors ./connectors
COPY portal ./portal
COPY pages ./pages
COPY app.py ./
RUN pip install --no-cache-dir --no-deps -e . \
    && useradd --create-home --uid 10001 countersign \
    && mkdir -p /workspace \
    && chown 10001:10001 /workspace

USER 10001:10001
VOLUME ["/workspace"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"]
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false", "--", "--workspace", "/workspace"]
