import pytest

from edge_llm_ros.runtime.lifecycle import (
    CallbackReturn,
    LifecycleMachine,
    State,
    Transition,
    TransitionError,
    available_transitions,
)


def machine(**results: CallbackReturn | Exception) -> tuple[LifecycleMachine, list[tuple[State, State]]]:
    seen: list[tuple[State, State]] = []

    def make(state: State):
        def callback(_previous: State) -> CallbackReturn:
            result = results.get(state.label, CallbackReturn.SUCCESS)
            if isinstance(result, Exception):
                raise result
            return result

        return callback

    callbacks = {s: make(s) for s in State if s.value >= 10}
    return LifecycleMachine(callbacks, on_change=lambda a, b, _t: seen.append((a, b))), seen


def test_full_cycle_follows_ros2_states() -> None:
    m, seen = machine()
    assert m.trigger("configure") is State.INACTIVE
    assert m.trigger("activate") is State.ACTIVE
    assert m.trigger("deactivate") is State.INACTIVE
    assert m.trigger("cleanup") is State.UNCONFIGURED
    assert m.trigger("shutdown") is State.FINALIZED
    assert seen[:2] == [(State.UNCONFIGURED, State.CONFIGURING), (State.CONFIGURING, State.INACTIVE)]


def test_failure_returns_to_start_state() -> None:
    m, _ = machine(configuring=CallbackReturn.FAILURE)
    assert m.trigger(Transition.CONFIGURE) is State.UNCONFIGURED
    m, _ = machine(activating=CallbackReturn.FAILURE)
    m.trigger("configure")
    assert m.trigger("activate") is State.INACTIVE


def test_exception_goes_through_error_processing() -> None:
    m, seen = machine(configuring=RuntimeError("model missing"))
    assert m.trigger("configure") is State.UNCONFIGURED
    assert (State.CONFIGURING, State.ERRORPROCESSING) in seen
    assert m.last_error is not None and "model missing" in m.last_error


def test_failed_error_processing_finalizes() -> None:
    m, _ = machine(activating=CallbackReturn.ERROR, errorprocessing=CallbackReturn.FAILURE)
    m.trigger("configure")
    assert m.trigger("activate") is State.FINALIZED


def test_invalid_transition_raises_and_keeps_state() -> None:
    m, _ = machine()
    with pytest.raises(TransitionError, match="not available from state 'unconfigured'"):
        m.trigger("activate")
    with pytest.raises(TransitionError, match="unknown transition"):
        m.trigger("explode")
    assert m.state is State.UNCONFIGURED


def test_shutdown_label_maps_per_state() -> None:
    assert Transition.ACTIVE_SHUTDOWN in available_transitions(State.ACTIVE)
    m, _ = machine()
    m.trigger("configure")
    m.trigger("activate")
    assert m.trigger("shutdown") is State.FINALIZED
