"""The pytest plugin (hsmsim.pytest_plugin) as its users meet it: generated test files run by pytest in a subprocess
(pytester), each with a real server of its own (or a shared one), real SoftHSM tokens and boto3."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmsim.testing.server import ServerProcess, free_port

pytest_plugins = ("pytester",)

USES_EVERY_FIXTURE = '''
import boto3
import pkcs11
import pytest


def test_store_key_and_encryption(kms_client, cloudhsmv2_client, custom_key_store, kms_key):
    store = custom_key_store()
    key = kms_key(store=store)
    assert key["Origin"] == "AWS_CLOUDHSM" and key["CustomKeyStoreId"] == store.custom_key_store_id
    blob = kms_client.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
    assert kms_client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    view = kms_client.describe_custom_key_stores(CustomKeyStoreId=store.custom_key_store_id)["CustomKeyStores"][0]
    assert view["ConnectionState"] == "CONNECTED"
    hsms = cloudhsmv2_client.describe_clusters()["Clusters"][0]["Hsms"]
    assert len({h["AvailabilityZone"] for h in hsms}) == 2 and {h["State"] for h in hsms} == {"ACTIVE"}


def test_cluster_with_three_hsms_and_users(cloudhsm_cluster, cloudhsmv2_client):
    cluster = cloudhsm_cluster(hsms=3)
    assert len(set(cluster.availability_zones)) == 3 and len(cluster.hsm_ids) == 3
    described = cloudhsmv2_client.describe_clusters()["Clusters"]
    assert [c["ClusterId"] for c in described] == [cluster.cluster_id] and described[0]["State"] == "ACTIVE"
    assert described[0]["Certificates"]["ClusterCertificate"]
    assert (cluster.admin.role, cluster.kmsuser.username, cluster.crypto_user.role) == ("admin", "kmsuser",
                                                                                       "crypto-user")
    assert "password" not in repr(cluster) and cluster.kmsuser.password not in repr(cluster)
    assert "BEGIN CERTIFICATE" in cluster.trust_anchor_pem


def test_other_key_specs(kms_client, kms_key):
    for spec in ("RSA_2048", "ECC_NIST_P256", "HMAC_256"):
        assert kms_key(spec)["KeySpec"] == spec
    mac = kms_key("HMAC_256")
    assert kms_client.generate_mac(KeyId=mac["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]


def test_env_for_code_that_makes_its_own_clients(hsmsim_env, hsmsim_endpoint, kms_key):
    key = kms_key()
    import os
    assert os.environ["AWS_ENDPOINT_URL_KMS"] == hsmsim_endpoint
    ids = [k["KeyId"] for k in boto3.client("kms").list_keys()["Keys"]]
    assert ids == [key["KeyId"]]


def test_hsm_session(hsm_session):
    key = hsm_session.generate_key(pkcs11.KeyType.AES, 256, label="app-key")
    iv = b"\\0" * 16
    assert key.decrypt(key.encrypt(b"sixteen bytes!!!", mechanism_param=iv), mechanism_param=iv) == b"sixteen bytes!!!"


def test_clock(hsmsim_clock, kms_client, kms_key):
    key = kms_key()
    kms_client.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    before = hsmsim_clock.now()
    after = hsmsim_clock.advance(days=7, minutes=1)
    assert (after - before).days == 7
    with pytest.raises(kms_client.exceptions.NotFoundException):
        kms_client.describe_key(KeyId=key["KeyId"])
'''

ISOLATION = '''
import pytest


@pytest.mark.parametrize("index", range(6))
def test_sees_only_its_own(index, kms_client, cloudhsmv2_client, custom_key_store, kms_key):
    store = custom_key_store(name=f"store-{index}")
    key = kms_key()
    assert [c["ClusterId"] for c in cloudhsmv2_client.describe_clusters()["Clusters"]] == [store.cluster.cluster_id]
    assert [s["CustomKeyStoreId"] for s in kms_client.describe_custom_key_stores()["CustomKeyStores"]] == [
        store.custom_key_store_id]
    assert [k["KeyId"] for k in kms_client.list_keys()["Keys"]] == [key["KeyId"]]
    assert cloudhsmv2_client.describe_backups()["Backups"] == [b for b in cloudhsmv2_client.describe_backups()[
        "Backups"] if b["ClusterId"] == store.cluster.cluster_id]
'''


@pytest.fixture
def shared_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server started by hand, logging each AWS call (INFO)."""
    process = ServerProcess(tmp_path / "shared" / "data").start()
    yield process
    process.stop()


def test_a_generated_file_using_every_fixture_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_uses_fixtures=USES_EVERY_FIXTURE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_tests_are_isolated_under_xdist_on_their_own_servers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_isolation=ISOLATION)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*2 workers*"])


def test_tests_are_isolated_on_a_shared_server(pytester: pytest.Pytester, shared_server: ServerProcess) -> None:
    pytester.makepyfile(test_isolation=ISOLATION)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2",
                                           "--hsmsim-endpoint", shared_server.url)
    result.assert_outcomes(passed=6)
    # the six tests and the two workers' templates all made their clusters on the one server
    assert shared_server.log_since(0).count("cloudhsmv2 CreateCluster") == 8


def test_a_failing_test_shows_the_tail_of_the_server_log(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fails='''
        def test_passes(kms_client):
            kms_client.create_key(Description="fine")

        def test_fails(kms_client):
            kms_client.describe_key(KeyId="alias/does-not-exist")
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    section = out[out.index("hsmsim server log"):]
    assert re.search(r"kms DescribeKey account \d{12} us-east-1 -> 400 NotFoundException", section)
    assert "CreateKey" not in section  # the other test's calls are not this test's log
    assert out.count("hsmsim server log") == 1


def test_fixtures_and_options_are_listed(pytester: pytest.Pytester) -> None:
    fixtures = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider").stdout.str()
    for name, words in {"hsmsim_server": "loopback", "hsmsim_endpoint": "URL", "hsmsim_account": "fresh",
                        "hsmsim_env": "AWS_ENDPOINT_URL_KMS", "kms_client": "KMS client",
                        "cloudhsmv2_client": "CloudHSM v2 client", "hsmsim_clock": "simulated time",
                        "cloudhsm_cluster": "ACTIVE cluster", "custom_key_store": "CONNECTED",
                        "kms_key": "key spec", "hsm_session": "PKCS#11 session"}.items():
        assert re.search(rf"^{name}( \[session scope\])? -- .*hsmsim/pytest_plugin\.py", fixtures, re.MULTILINE), name
        documented = fixtures[fixtures.index(f"{name} "):]
        assert words in documented[:600], (name, words)
    helped = pytester.runpytest_subprocess("--help", "-p", "no:cacheprovider").stdout.str()
    for option in ("--hsmsim-endpoint=URL", "--hsmsim-delays={instant,fast,realistic}", "--hsmsim-default-account=ID"):
        assert option in helped


def test_an_endpoint_without_a_server_fails_with_what_to_change(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_endpoint="def test_one(kms_client):\n    pass\n\ndef test_two(kms_key):\n    pass\n")
    url = f"http://127.0.0.1:{free_port()}"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hsmsim-endpoint", url)
    result.assert_outcomes(errors=2)
    out = result.stdout.str()
    assert f"no hsmsim server answers at {url}" in out and "hsmsim serve --port PORT" in out
    assert "Traceback" not in out and "urllib" not in out
    not_a_url = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hsmsim-endpoint", "localhost:4599")
    not_a_url.assert_outcomes(errors=2)
    assert "is not a URL: use http://HOST:PORT" in not_a_url.stdout.str()


def test_an_endpoint_that_is_not_hsmsim_is_named(pytester: pytest.Pytester, shared_server: ServerProcess) -> None:
    pytester.makepyfile(test_endpoint="def test_one(kms_client):\n    pass\n")
    url = f"{shared_server.url}/_hsmsim/clusters"  # answers, but not as hsmsim's health
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hsmsim-endpoint", url)
    result.assert_outcomes(errors=1)
    assert "it is not an hsmsim server; fix --hsmsim-endpoint" in result.stdout.str()


def test_bad_option_values_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    delays = pytester.runpytest_subprocess("--hsmsim-delays", "slow")
    assert delays.ret == pytest.ExitCode.USAGE_ERROR and "invalid choice: 'slow'" in delays.stderr.str()
    account = pytester.runpytest_subprocess("--hsmsim-default-account", "1234")
    assert account.ret == pytest.ExitCode.USAGE_ERROR and "12 digits" in account.stderr.str()


def test_default_account_runs_every_test_in_that_account_from_a_reset(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_moto_style='''
        import boto3
        import pytest


        @pytest.mark.parametrize("index", range(2))
        def test_in_the_fixed_account(index, hsmsim_env, kms_client, custom_key_store, kms_key):
            key = kms_key()
            assert key["Arn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
            moto_style = boto3.client("kms", aws_access_key_id="testing", aws_secret_access_key="testing")
            assert [k["KeyId"] for k in moto_style.list_keys()["Keys"]] == [key["KeyId"]]
            store = custom_key_store()
            assert len(kms_client.describe_custom_key_stores()["CustomKeyStores"]) == 1
            assert store.cluster.source_backup_id is None
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hsmsim-default-account", "123456789012")
    result.assert_outcomes(passed=2)


def test_default_account_with_a_shared_endpoint_is_refused(pytester: pytest.Pytester,
                                                          shared_server: ServerProcess) -> None:
    pytester.makepyfile(test_x="def test_x(kms_client):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hsmsim-endpoint", shared_server.url,
                                           "--hsmsim-default-account", "123456789012")
    result.assert_outcomes(errors=1)
    assert "start that server with `hsmsim serve --default-account ID`" in result.stdout.str()


def test_a_test_without_hsmsim_fixtures_starts_no_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain='''
        from hsmsim.pytest_plugin import SIMULATION

        def test_no_server(request):
            assert request.config.stash[SIMULATION] is None

        def test_then_one(request, hsmsim_endpoint):
            assert request.config.stash[SIMULATION].endpoint == hsmsim_endpoint
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_documented_examples_pass(pytester: pytest.Pytester) -> None:
    """docs/pytest.md's complete test (pytest) and its unittest example, run as written."""
    blocks = re.findall(r"```python\n(.*?)```", (Path(__file__).parents[1] / "docs" / "pytest.md").read_text(), re.DOTALL)
    pytester.makepyfile(test_documented=blocks[0], test_unittest_example=blocks[1])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
