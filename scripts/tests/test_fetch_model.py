"""Error paths of scripts/fetch_model.py: a wrong sha256, no network, a hostile checkpoint.

Run: .cache/venv/bin/python -m unittest discover -s scripts/tests
"""
import io
import pathlib
import pickle
import subprocess
import sys
import tempfile
import unittest
import zipfile

SCRIPTS = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SCRIPTS))
import fetch_model  # noqa: E402


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPTS / "fetch_model.py"), *args], capture_output=True, text=True)


class FetchModelErrors(unittest.TestCase):
    def test_unreachable_index_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as d:
            p = run("--force", "--cache", d, "--out", f"{d}/model.onnx", "--index-url", "http://127.0.0.1:9/simple")
        self.assertEqual(p.returncode, 1)
        self.assertIn("could not download", p.stderr)
        self.assertIn("network", p.stderr)
        self.assertNotIn("Traceback", p.stderr)

    def test_wrong_sha256_is_refused_and_the_file_deleted(self):
        with tempfile.TemporaryDirectory() as d:
            fake = pathlib.Path(d) / fetch_model.WHEEL
            fake.write_bytes(b"not the real wheel")
            with self.assertRaises(fetch_model.FetchError) as ctx:
                fetch_model.verify_sha256(fake, fetch_model.WHEEL_SHA256)
            self.assertIn("sha256 mismatch", str(ctx.exception))
            self.assertIn(fetch_model.WHEEL_SHA256, str(ctx.exception))
            self.assertFalse(fake.exists())

    def test_a_bad_cached_wheel_is_not_used(self):
        with tempfile.TemporaryDirectory() as d:
            (pathlib.Path(d) / fetch_model.WHEEL).write_bytes(b"tampered")
            p = run("--force", "--cache", d, "--out", f"{d}/model.onnx", "--index-url", "http://127.0.0.1:9/simple")
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("could not download", p.stderr)
            self.assertFalse((pathlib.Path(d) / "model.onnx").exists())

    def test_checkpoint_with_foreign_globals_is_refused(self):
        class Evil:
            def __reduce__(self):
                import os
                return (os.system, ("echo pwned",))

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("archive/data.pkl", pickle.dumps(Evil(), protocol=2))
        with self.assertRaises(pickle.UnpicklingError) as ctx:
            fetch_model.read_state_dict(buf.getvalue())
        self.assertIn("refusing", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
