"""The adaptive quality controller, fed measured-looking work times on a simulated clock."""

from __future__ import annotations

from livestyle.adaptive import AdaptiveQuality, levels_for


def feed(ctl, t0, seconds, work_s, fps=30.0, dropped=0):
    """Frames every 1/fps s from t0 with the given work time; returns (end time, sizes changed to)."""
    t, changes = t0, []
    while t < t0 + seconds:
        new = ctl.observe(t, work_s, dropped, t)
        if new is not None:
            changes.append(new)
        t += 1 / fps
    return t, changes


def test_levels_keep_aspect_and_shrink():
    lv = levels_for((512, 288))
    assert lv[0] == (512, 288) and lv[-1] == (192, 112)
    assert all(a[0] > b[0] for a, b in zip(lv, lv[1:]))
    assert all(w % 8 == 0 and h % 8 == 0 for w, h in lv)
    assert levels_for((320, 240))[0] == (320, 240)


def test_steps_down_under_load_and_back_up_when_it_goes():
    ctl = AdaptiveQuality((512, 288), 30.0)
    t, down = feed(ctl, 0.0, 3.0, work_s=0.040)       # 40 ms of work per 33 ms frame: too slow
    assert down and down[0] == (448, 256) and ctl.level >= 2
    assert all(c.to_size[0] < c.from_size[0] for c in ctl.changes)
    level_loaded = ctl.level
    t, _ = feed(ctl, t, 1.0, work_s=0.040 * 0.5)      # smaller size: fits now, nothing moves at once
    t, up = feed(ctl, t, 30.0, work_s=0.004)          # the load went away: back up, step by step
    assert up and ctl.level < level_loaded and ctl.size == (512, 288)
    assert ctl.n_changes == len(ctl.changes)


def test_one_slow_frame_changes_nothing():
    ctl = AdaptiveQuality((512, 288), 30.0)
    t, _ = feed(ctl, 0.0, 2.0, work_s=0.010)
    assert ctl.observe(t, 0.5, 0, t) is None
    t, changes = feed(ctl, t + 1 / 30, 2.0, work_s=0.010)
    assert not changes and ctl.level == 0


def test_drops_alone_step_down():
    ctl = AdaptiveQuality((512, 288), 30.0)
    _, changes = feed(ctl, 0.0, 2.0, work_s=0.010, dropped=1)
    assert changes and "drops" in ctl.changes[0].reason


def test_a_borderline_level_is_held_off_longer_each_time():
    """Work that only fits one level down must not make the controller bounce every few seconds."""
    ctl = AdaptiveQuality((512, 288), 30.0)
    cost = {0: 0.034, 1: 0.012}  # level 0 is too slow; level 1 has room (scaled estimate says level 0 fits)
    t, n_up = 0.0, 0
    for _ in range(int(120 * 30)):
        lvl = ctl.level
        new = ctl.observe(t, cost.get(ctl.level, 0.01), 0, t)
        if new is not None and ctl.level < lvl:
            n_up += 1
        t += 1 / 30
    assert n_up <= 5  # holds of 3, 6, 12, 24, 48 s within two minutes


def feed_late(ctl, t0, seconds, work_s, latency_s, fps=60.0):
    t, changes = t0, []
    while t < t0 + seconds:
        new = ctl.observe(t, work_s, 0, t, latency_s)
        if new is not None:
            changes.append(new)
        t += 1 / fps
    return t, changes


def test_late_output_steps_down_only_while_styling_is_a_real_share_of_the_frame():
    """At 1080p60 on two cores decoding and upsampling alone keep capture->send above two frame intervals:
    a smaller inference size cannot fix that once styling is cheap, so the controller must stop there."""
    ctl = AdaptiveQuality((512, 288), 60.0)
    _, down = feed_late(ctl, 0.0, 2.0, work_s=0.010, latency_s=0.045)  # 10 ms of 16.7: worth stepping down
    assert down and "capture->send p95 45 ms" in ctl.changes[0].reason
    level = ctl.level
    _, more = feed_late(ctl, 10.0, 10.0, work_s=0.005, latency_s=0.045)  # 5 ms of 16.7: stay
    assert not more and ctl.level == level


def test_a_run_starts_at_the_size_the_last_one_settled_at_and_remembers_its_own(tmp_path, monkeypatch):
    """The record is keyed by backend, frame size, fps and kind of look; a run of 20 s or more writes it."""
    import json

    from livestyle import adaptive
    from livestyle.adaptive import QUALITY_STATE, quality_key
    from livestyle.session import RunConfig, run

    monkeypatch.setenv("LIVESTYLE_HOME", str(tmp_path))
    key = quality_key("onnxruntime", (640, 360), 30.0, cnn=False)
    assert key == "onnxruntime|640x360@30|colour"
    state = tmp_path / QUALITY_STATE
    state.write_text(json.dumps({key: {"size": [384, 216]}, "other|1x1@1|cnn": {"size": [8, 8]}}))
    cfg = RunConfig(input="demo", output="null", style="pastel", size=(640, 360), fps=30.0, realtime=True,
                    max_frames=15)
    rep = run(cfg)
    assert rep["quality"]["started_at_remembered"] == [384, 216]
    assert rep["infer_size"] == [384, 216] or rep["quality"]["n_changes"] > 0
    assert json.loads(state.read_text())[key] == {"size": [384, 216]}  # a short run leaves the record alone

    monkeypatch.setattr(adaptive, "REMEMBER_AFTER_S", 0.0)
    rep = run(RunConfig(input="demo", output="null", style="pastel", size=(640, 360), fps=30.0, realtime=True,
                        max_frames=15))
    saved = json.loads(state.read_text())
    assert saved[key]["size"] == rep["infer_size"] and saved["other|1x1@1|cnn"] == {"size": [8, 8]}

    state.write_text(json.dumps({key: {"size": [999, 1]}}))  # not one of the levels: ignored
    rep = run(RunConfig(input="demo", output="null", style="pastel", size=(640, 360), fps=30.0, realtime=True,
                        max_frames=5))
    assert rep["quality"]["started_at_remembered"] is None and rep["infer_size"] == [512, 288]


def test_the_settled_size_is_the_one_held_longest_after_the_start():
    from livestyle.adaptive import QualityChange

    ctl = AdaptiveQuality((512, 288), 60.0)
    assert ctl.settled_size(30.0) == (512, 288)                  # never moved
    for t, a, b in ((1.6, 0, 1), (2.1, 1, 2), (2.6, 2, 3), (3.1, 3, 4), (20.0, 4, 3)):  # walk down, late step up
        ctl.changes.append(QualityChange(t, ctl.levels[a], ctl.levels[b], "test"))
        ctl.level = b
    assert ctl.size == (320, 176)
    assert ctl.settled_size(26.0) == (256, 144)                  # 15 s at 256 against 6 s at 320
    assert ctl.settled_size(40.0) == (320, 176)                  # the step up held 20 s: it fits
