"""Password hashing and the verifier's memory of recent successes (pure code)."""

from hsmsim.cloudhsm.passwords import PasswordVerifier, hash_password, verify_password


def test_hashes_are_salted_and_verify():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert "correct horse" not in first
    assert verify_password("correct horse", first) and not verify_password("wrong horse", first)


def test_verifier_remembers_successes_but_never_accepts_a_wrong_password():
    verifier = PasswordVerifier()
    stored = hash_password("s3cret-pass")
    assert not verifier.verify("wrong-pass", stored)
    assert verifier.verify("s3cret-pass", stored)
    assert verifier.verify("s3cret-pass", stored)  # now from memory
    assert not verifier.verify("wrong-pass", stored)
    assert not verifier.verify("s3cret-pas", stored)
    changed = hash_password("new-pass-1")  # a password change gives a new stored hash
    assert not verifier.verify("s3cret-pass", changed)
    assert verifier.verify("new-pass-1", changed)


def test_remembered_entries_hold_no_password():
    verifier = PasswordVerifier()
    stored = hash_password("s3cret-pass")
    verifier.verify("s3cret-pass", stored)
    assert all(b"s3cret-pass" not in value for value in verifier._known.values())


def test_next_passwords_are_made_ahead_in_their_own_thread_and_handed_out_once():
    import threading

    from kms.keystores.passwords import NextPasswords, new_pair

    made_in: list[str] = []
    ready = threading.Semaphore(0)

    def make() -> tuple[str, str]:
        made_in.append(threading.current_thread().name)
        pair = new_pair()
        ready.release()
        return pair

    supply = NextPasswords(make)
    supply.prepare()
    for _ in range(NextPasswords.AHEAD):
        ready.acquire()  # the daemon thread made one
    taken = [supply.take() for _ in range(NextPasswords.AHEAD)]
    assert set(made_in[:NextPasswords.AHEAD]) == {"kmsuser-passwords"}
    passwords = [password for password, _ in taken]
    assert len(set(passwords)) == len(passwords)
    assert all(len(p) == 32 and p.isalnum() for p in passwords)
    assert all(verify_password(password, stored) and password not in stored for password, stored in taken)
    supply.close()
    assert supply.take()[0] not in passwords  # closed: made on the spot, still never one handed out before
