"""Everything this tutorial needs that is not what a chapter teaches, in one importable package.

Installed into ``.venv`` by the Makefile (``pip install --no-deps --editable .``), so that the chapter scripts,
the notebooks, the benchmarks, the grader and the tests import it by name. Nothing deployed imports it: the
handler's task root (``solutions/03_lambda_code/lambda_function.py`` and ``safe_download.py``) stays
self-contained.

- ``paths``: where the repository's models, samples and event files are;
- ``prices``: AWS Lambda and API Gateway prices and the free tier, with their source and date;
- ``readme``: writes generated tables into the README between markers;
- ``images``: photo files found and preprocessed as training and the handler do;
- ``image_server``: a folder of images served over HTTP on 127.0.0.1;
- ``events``: API Gateway proxy events (payload format 2.0 and 1.0) and direct invocations;
- ``lambda_runtime``: Lambda's Runtime API, its invoke emulator, and task roots run as Lambda runs them;
- ``task_root``: a Lambda Dockerfile read, and its task root built in a folder, without Docker;
- ``lambda_wheels``: the pip options that pick the wheels of the Lambda platform, and the glibc they need;
- ``docker_image``: the ``docker build`` / ``run`` commands of the Lambda image and its local invoke;
- ``deployment``: the names, tags, sessions and error messages chapters 05 and 06 share;
- ``moto_account``: a fake AWS account (moto) with the gaps this project needs filled, and fake ECR images;
- ``timing``: percentiles, spreads and the description of the machine measured.
"""
