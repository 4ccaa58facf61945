"""The engine tests' directory double is the shipped fake: lifecycle.testing.InMemoryDirectory.

(Kept under its old name while the tests that import it from here are edited by others; new tests
import lifecycle.testing directly.)
"""

from lifecycle.testing import InMemoryDirectory as FakeDirectory

__all__ = ["FakeDirectory"]
