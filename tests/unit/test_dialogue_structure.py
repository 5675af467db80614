"""dialogue/ reads at a glance: tasks side by side over a small core, no inheritance chain (issue 13)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import standardiste.dialogue as dialogue

TASKS = {
    "booking": "BookingTask",
    "appointments": "AppointmentTask",
    "requests": "RequestTask",
    "questions": "PracticalQuestionTask",
    "human": "HumanOrMessageTask",
    "emergency": "EmergencyTask",
    "outbound": "OutboundTask",
}


def _classes() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(dialogue.__path__):
        module = importlib.import_module(f"standardiste.dialogue.{info.name}")
        found += [
            c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__
        ]
    return found


def test_no_chain_of_more_than_two_levels():
    for cls in _classes():
        # Project classes above this one (typing.Protocol, enums and object do not count).
        own = [c for c in cls.__mro__[1:] if c.__module__.startswith("standardiste.")]
        assert len(own) <= 1, f"{cls.__name__} inherits {[c.__name__ for c in own]}"


def test_one_task_object_per_task_each_with_a_dataclass_state():
    import dataclasses

    for module_name, class_name in TASKS.items():
        module = importlib.import_module(f"standardiste.dialogue.{module_name}")
        task = getattr(module, class_name)
        assert task.__mro__[1:] == (object,), f"{class_name} is not a plain object"
        source = inspect.getsource(task.__init__)
        assert "self.core = core" in source and "self.current" in source, class_name
        states = [c for _, c in inspect.getmembers(module, inspect.isclass) if dataclasses.is_dataclass(c)]
        assert any(c.__module__ == module.__name__ and c.__name__.endswith("State") for c in states), (
            module_name
        )


def test_identity_is_a_sub_flow_not_a_base():
    from standardiste.dialogue.identity import IdentityFlow
    from standardiste.dialogue.manager import DialogueManager

    assert IdentityFlow.__mro__[1:] == (object,)
    assert DialogueManager.__mro__[1:] == (object,)
