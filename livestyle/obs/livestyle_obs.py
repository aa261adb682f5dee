"""livestyle controls inside OBS Studio (Tools -> Scripts -> + -> this file; `livestyle obs script` prints its path).

Adds hotkeys (Settings -> Hotkeys: "livestyle: next look", "previous look",
"bypass", "strength up", "strength down", "next background", "background
blur up/down", "beauty on/off") and a properties panel with the control
address, the token and the look list.  Each hotkey sends one command of
livestyle's control vocabulary (livestyle/controls.py: next-style,
prev-style, bypass-toggle, strength-up, strength-down, background-next,
blur-up, blur-down, beauty-toggle, style) to the control
API as ``POST /api/command {"name": ..., "value": ...}`` (`livestyle run
--control`, default http://127.0.0.1:8765); livestyle validates it.

Standard library only; runs in the Python that OBS embeds (3.11 on Debian,
the user's own install on Windows and macOS).  No HTTP call runs on an OBS
thread: hotkeys and buttons put a job on a queue, and one background thread
does the requests (2 s timeout), so OBS's frame tick is never blocked.
"""

import json
import queue
import threading
import urllib.error
import urllib.request

try:
    import obspython as obs  # present only inside OBS
except ImportError:  # imported outside OBS (tests, `python -c`): the helpers below still work
    obs = None

DEFAULT_CONTROL = "http://127.0.0.1:8765"
TIMEOUT_S = 2.0

# (hotkey name, description in Settings -> Hotkeys, the command it sends)
HOTKEYS = (
    ("livestyle.next_look", "livestyle: next look", "next-style"),
    ("livestyle.prev_look", "livestyle: previous look", "prev-style"),
    ("livestyle.bypass", "livestyle: bypass on/off", "bypass-toggle"),
    ("livestyle.strength_up", "livestyle: strength up", "strength-up"),
    ("livestyle.strength_down", "livestyle: strength down", "strength-down"),
    ("livestyle.background_next", "livestyle: next background (keep, blur, colour...)", "background-next"),
    ("livestyle.blur_up", "livestyle: background blur up", "blur-up"),
    ("livestyle.blur_down", "livestyle: background blur down", "blur-down"),
    ("livestyle.beauty_toggle", "livestyle: beauty on/off", "beauty-toggle"),
)


class Controller:
    """Talks to livestyle's control API from one worker thread; every public method returns at once."""

    def __init__(self):
        self.base = DEFAULT_CONTROL
        self.token = ""
        self.looks = []  # names from GET /api/styles, filled by the worker
        self.last_status = "not connected yet"
        self.calls = 0
        self._jobs = queue.Queue(maxsize=64)
        self._thread = None

    def configure(self, base, token):
        base = (base or DEFAULT_CONTROL).strip().rstrip("/")
        if "://" not in base:
            base = "http://" + base
        self.base, self.token = base, (token or "").strip()

    def start(self):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="livestyle-control", daemon=True)
            self._thread.start()

    def stop(self):
        try:
            self._jobs.put_nowait(None)
        except queue.Full:
            pass

    def submit(self, kind, arg=None):
        """Queue a job: ("command", (name, value)) | ("looks", None).  Drops it if 64 are waiting."""
        try:
            self._jobs.put_nowait((kind, arg))
        except queue.Full:
            self.last_status = "busy: dropped a request"

    # -- worker thread --------------------------------------------------------------------------------
    def _request(self, method, path, body=None):
        url = self.base + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            raw = resp.read(1 << 20)
        return json.loads(raw.decode("utf-8")) if raw[:1] in (b"{", b"[") else {}

    def _work(self):
        while True:
            job = self._jobs.get()
            if job is None:
                return
            kind, arg = job
            try:
                if kind == "command":
                    name, value = arg
                    self._request("POST", "/api/command", {"name": name} if value is None else
                                  {"name": name, "value": value})
                elif kind == "looks":
                    answer = self._request("GET", "/api/styles")
                    items = answer.get("styles", answer) if isinstance(answer, dict) else answer
                    self.looks = [i.get("name", "") if isinstance(i, dict) else str(i) for i in items or []]
                self.calls += 1
                self.last_status = "ok"
            except urllib.error.HTTPError as e:
                what = arg[0] if kind == "command" else kind
                hint = "check the token" if e.code == 401 else _error_text(e)
                self.last_status = "livestyle answered %d for %s (%s)" % (e.code, what, hint)
                _log(self.last_status)
            except (urllib.error.URLError, OSError, ValueError) as e:
                self.last_status = "livestyle not reachable at %s (%s); start it with --control" % (self.base, e)
                _log(self.last_status)


def _error_text(http_error):
    """The one-line reason in a livestyle error answer ({"error": ...}), else the HTTP reason phrase."""
    try:
        return str(json.loads(http_error.read(4096).decode("utf-8"))["error"])
    except (OSError, ValueError, KeyError, TypeError):
        return str(http_error.reason)


def _log(message):
    if obs is not None:
        obs.script_log(obs.LOG_WARNING, message)


CONTROLLER = Controller()
_HOTKEY_IDS = {}


# -- OBS script entry points ---------------------------------------------------------------------------

def script_description():
    return ("<b>livestyle</b> controls: hotkeys for the next/previous look, bypass and strength, "
            "sent to livestyle's control API (run livestyle with <code>--control</code>).")


def script_defaults(settings):
    obs.obs_data_set_default_string(settings, "control_url", DEFAULT_CONTROL)
    obs.obs_data_set_default_string(settings, "token", "")


def _refresh_clicked(props, prop):
    CONTROLLER.submit("looks")
    looks = obs.obs_properties_get(props, "look")
    obs.obs_property_list_clear(looks)
    obs.obs_property_list_add_string(looks, "(keep the current look)", "")
    for name in CONTROLLER.looks:  # the list fetched by the previous click (the worker fills it)
        obs.obs_property_list_add_string(looks, name, name)
    return True


def script_properties():
    props = obs.obs_properties_create()
    obs.obs_properties_add_text(props, "control_url", "Control address", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_text(props, "token", "Token", obs.OBS_TEXT_PASSWORD)
    looks = obs.obs_properties_add_list(props, "look", "Look", obs.OBS_COMBO_TYPE_LIST, obs.OBS_COMBO_FORMAT_STRING)
    obs.obs_property_list_add_string(looks, "(keep the current look)", "")
    for name in CONTROLLER.looks:
        obs.obs_property_list_add_string(looks, name, name)
    obs.obs_properties_add_button(props, "refresh", "Refresh looks", _refresh_clicked)
    return props


def script_update(settings):
    CONTROLLER.configure(obs.obs_data_get_string(settings, "control_url"), obs.obs_data_get_string(settings, "token"))
    look = obs.obs_data_get_string(settings, "look")
    if look and look != getattr(CONTROLLER, "_chosen", None):
        CONTROLLER._chosen = look
        CONTROLLER.submit("command", ("style", look))


def _make_callback(command):
    def callback(pressed):
        if pressed:
            CONTROLLER.submit("command", (command, None))
    return callback


def script_load(settings):
    CONTROLLER.configure(obs.obs_data_get_string(settings, "control_url"), obs.obs_data_get_string(settings, "token"))
    CONTROLLER._chosen = obs.obs_data_get_string(settings, "look")
    CONTROLLER.start()
    CONTROLLER.submit("looks")
    for name, description, command in HOTKEYS:
        hotkey_id = obs.obs_hotkey_register_frontend(name, description, _make_callback(command))
        _HOTKEY_IDS[name] = hotkey_id
        saved = obs.obs_data_get_array(settings, name)
        obs.obs_hotkey_load(hotkey_id, saved)
        obs.obs_data_array_release(saved)


def script_save(settings):
    for name, hotkey_id in _HOTKEY_IDS.items():
        saved = obs.obs_hotkey_save(hotkey_id)
        obs.obs_data_set_array(settings, name, saved)
        obs.obs_data_array_release(saved)


def script_unload():
    CONTROLLER.stop()
