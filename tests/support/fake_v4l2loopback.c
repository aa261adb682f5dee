/*
 * fake_v4l2loopback.c -- an LD_PRELOAD library that emulates ONE v4l2loopback
 * output device at the C library boundary, for tests of the real pyvirtualcam.
 *
 * Why: these machines cannot load the v4l2loopback kernel module, yet the
 * virtual-camera sink must be tested through pyvirtualcam's real compiled
 * backend.  That backend (pyvirtualcam/native_linux_v4l2loopback) only calls
 *   open(path, O_WRONLY | O_SYNC)            for /dev/video0..99 or the given device
 *   ioctl(fd, VIDIOC_QUERYCAP, &cap)          driver must be "v4l2 loopback",
 *                                             capabilities must have V4L2_CAP_VIDEO_OUTPUT
 *   ioctl(fd, VIDIOC_S_FMT, &fmt)             type OUTPUT, width, height, pixelformat
 *   write(fd, frame, sizeimage)               once per frame (I420 for BGR input)
 *   close(fd)
 * and nothing else (no stat/access/opendir scanning), so that is what is emulated.
 *
 * Configuration (environment, read at every open):
 *   FAKE_V4L2_DEVICE  path that is intercepted, e.g. /dev/video42 (need not exist).
 *                     Unset or empty: nothing is intercepted ("no device").
 *   FAKE_V4L2_OUTPUT  file that receives every written frame, appended raw.
 *                     Unset: frames are written to /dev/null.
 *   FAKE_V4L2_DRIVER  driver name reported by VIDIOC_QUERYCAP (default
 *                     "v4l2 loopback"); set to something else to emulate a
 *                     V4L2 device that is not a loopback.
 *   FAKE_V4L2_FAIL_WRITES  "FROM-TO" or "FROM-": frame writes number FROM..TO
 *                     (counted from 1 over the whole process, across reopens;
 *                     no TO: every one from FROM on) fail with ENODEV, as
 *                     when the device goes away under the writer.
 * Records: after VIDIOC_S_FMT and at close, FAKE_V4L2_OUTPUT + ".fmt" holds a
 * one-line JSON object {"width", "height", "pixelformat" (fourcc text),
 * "bytesperline", "sizeimage", "frames", "bad_writes", "closed"}.
 *
 * Every other path, descriptor and request goes to the real libc
 * (dlsym(RTLD_NEXT, ...)).  The emulated descriptor is a real descriptor of
 * the output file, so poll/dup/fcntl on it behave sanely.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FAKE_FDS 16

struct fake_state {
    int fd; /* -1 when the slot is free */
    int configured;
    struct v4l2_pix_format pix;
    unsigned long frames;
    unsigned long bad_writes;
    char fmt_path[4096];
};

static struct fake_state fakes[MAX_FAKE_FDS];
static int fakes_initialised = 0;
static pthread_mutex_t fakes_lock = PTHREAD_MUTEX_INITIALIZER;

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*close_fn)(int);

static void *next_symbol(const char *name) {
    void *sym = dlsym(RTLD_NEXT, name);
    if (!sym) {
        fprintf(stderr, "fake_v4l2loopback: cannot find the real %s\n", name);
        abort();
    }
    return sym;
}

static void init_fakes_locked(void) {
    if (fakes_initialised) return;
    for (int i = 0; i < MAX_FAKE_FDS; i++) fakes[i].fd = -1;
    fakes_initialised = 1;
}

/* Caller holds fakes_lock. */
static struct fake_state *find_fake_locked(int fd) {
    init_fakes_locked();
    if (fd < 0) return NULL;
    for (int i = 0; i < MAX_FAKE_FDS; i++)
        if (fakes[i].fd == fd) return &fakes[i];
    return NULL;
}

static int is_fake_path(const char *path) {
    const char *dev = getenv("FAKE_V4L2_DEVICE");
    return path && dev && dev[0] && strcmp(path, dev) == 0;
}

static const char *driver_name(void) {
    const char *drv = getenv("FAKE_V4L2_DRIVER");
    return (drv && drv[0]) ? drv : "v4l2 loopback";
}

/* Bytes per line and image size for the formats pyvirtualcam can ask for. */
static int frame_layout(__u32 fourcc, __u32 w, __u32 h, __u32 *bpl, __u32 *size) {
    switch (fourcc) {
    case V4L2_PIX_FMT_YUV420: /* I420: Y plane, then U and V at half resolution */
    case V4L2_PIX_FMT_NV12:
        *bpl = w;
        *size = w * h + 2 * (((w + 1) / 2) * ((h + 1) / 2));
        return 0;
    case V4L2_PIX_FMT_YUYV:
    case V4L2_PIX_FMT_UYVY:
        *bpl = 2 * w;
        *size = 2 * w * h;
        return 0;
    case V4L2_PIX_FMT_GREY:
        *bpl = w;
        *size = w * h;
        return 0;
    case V4L2_PIX_FMT_RGB24:
    case V4L2_PIX_FMT_BGR24:
        *bpl = 3 * w;
        *size = 3 * w * h;
        return 0;
    default:
        return -1;
    }
}

/* Caller holds fakes_lock.  Writes the one-line JSON record via a temp + rename. */
static void write_record_locked(const struct fake_state *st, int closed) {
    if (!st->fmt_path[0]) return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", st->fmt_path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    char fcc[5];
    __u32 p = st->pix.pixelformat;
    fcc[0] = (char)(p & 0xff);
    fcc[1] = (char)((p >> 8) & 0xff);
    fcc[2] = (char)((p >> 16) & 0xff);
    fcc[3] = (char)((p >> 24) & 0xff);
    fcc[4] = 0;
    for (int i = 0; i < 4; i++)
        if (fcc[i] < 32 || fcc[i] > 126 || fcc[i] == '"' || fcc[i] == '\\') fcc[i] = '?';
    fprintf(f,
            "{\"width\": %u, \"height\": %u, \"pixelformat\": \"%s\", \"bytesperline\": %u, "
            "\"sizeimage\": %u, \"frames\": %lu, \"bad_writes\": %lu, \"closed\": %s}\n",
            st->pix.width, st->pix.height, st->configured ? fcc : "", st->pix.bytesperline,
            st->pix.sizeimage, st->frames, st->bad_writes, closed ? "true" : "false");
    fclose(f);
    rename(tmp, st->fmt_path);
}

/* Opens the backing file for an intercepted device path; returns the fd or -1. */
static int open_fake(void) {
    open_fn real_open = (open_fn)next_symbol("open");
    const char *out = getenv("FAKE_V4L2_OUTPUT");
    int fd;
    if (out && out[0])
        fd = real_open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    else
        fd = real_open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;

    pthread_mutex_lock(&fakes_lock);
    init_fakes_locked();
    struct fake_state *slot = NULL;
    for (int i = 0; i < MAX_FAKE_FDS; i++)
        if (fakes[i].fd == -1) { slot = &fakes[i]; break; }
    if (!slot) {
        pthread_mutex_unlock(&fakes_lock);
        close_fn real_close = (close_fn)next_symbol("close");
        real_close(fd);
        errno = EBUSY;
        return -1;
    }
    memset(slot, 0, sizeof *slot);
    slot->fd = fd;
    if (out && out[0]) snprintf(slot->fmt_path, sizeof slot->fmt_path, "%s.fmt", out);
    pthread_mutex_unlock(&fakes_lock);
    return fd;
}

static int mode_arg_needed(int flags) {
    return (flags & O_CREAT) || ((flags & O_TMPFILE) == O_TMPFILE);
}

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (mode_arg_needed(flags)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (is_fake_path(path)) return open_fake();
    return ((open_fn)next_symbol("open"))(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (mode_arg_needed(flags)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (is_fake_path(path)) return open_fake();
    return ((open_fn)next_symbol("open64"))(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    if (mode_arg_needed(flags)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (is_fake_path(path)) return open_fake();
    return ((openat_fn)next_symbol("openat"))(dirfd, path, flags, mode);
}

static int fake_ioctl_locked(struct fake_state *st, unsigned long request, void *arg) {
    if (!arg) {
        errno = EFAULT;
        return -1;
    }
    switch (request) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *cap = (struct v4l2_capability *)arg;
        memset(cap, 0, sizeof *cap);
        snprintf((char *)cap->driver, sizeof cap->driver, "%s", driver_name());
        snprintf((char *)cap->card, sizeof cap->card, "livestyle fake loopback");
        snprintf((char *)cap->bus_info, sizeof cap->bus_info, "platform:v4l2loopback-fake");
        cap->version = 0x000c07; /* 0.12.7, a real v4l2loopback release */
        cap->device_caps = V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_READWRITE | V4L2_CAP_STREAMING;
        cap->capabilities = cap->device_caps | V4L2_CAP_DEVICE_CAPS;
        return 0;
    }
    case VIDIOC_TRY_FMT:
    case VIDIOC_S_FMT: {
        struct v4l2_format *fmt = (struct v4l2_format *)arg;
        struct v4l2_pix_format *pix = &fmt->fmt.pix;
        __u32 bpl, size;
        if (fmt->type != V4L2_BUF_TYPE_VIDEO_OUTPUT || pix->width == 0 || pix->height == 0 ||
            pix->width > 8192 || pix->height > 8192 ||
            frame_layout(pix->pixelformat, pix->width, pix->height, &bpl, &size) != 0) {
            errno = EINVAL;
            return -1;
        }
        pix->bytesperline = bpl;
        pix->sizeimage = size;
        pix->field = V4L2_FIELD_NONE;
        if (pix->colorspace == 0) pix->colorspace = V4L2_COLORSPACE_SRGB;
        if (request == VIDIOC_S_FMT) {
            st->pix = *pix;
            st->configured = 1;
            write_record_locked(st, 0);
        }
        return 0;
    }
    case VIDIOC_G_FMT: {
        struct v4l2_format *fmt = (struct v4l2_format *)arg;
        if (fmt->type != V4L2_BUF_TYPE_VIDEO_OUTPUT || !st->configured) {
            errno = EINVAL;
            return -1;
        }
        fmt->fmt.pix = st->pix;
        return 0;
    }
    default:
        errno = ENOTTY; /* what the kernel answers for a request a driver lacks */
        return -1;
    }
}

int ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);

    pthread_mutex_lock(&fakes_lock);
    struct fake_state *st = find_fake_locked(fd);
    if (st) {
        int rc = fake_ioctl_locked(st, request, arg);
        pthread_mutex_unlock(&fakes_lock);
        return rc;
    }
    pthread_mutex_unlock(&fakes_lock);
    return ((ioctl_fn)next_symbol("ioctl"))(fd, request, arg);
}

static unsigned long write_attempts = 0; /* frame writes to fake devices in this process */

/* 1 when write number n (1-based) must fail according to FAKE_V4L2_FAIL_WRITES. */
static int write_must_fail(unsigned long n) {
    const char *spec = getenv("FAKE_V4L2_FAIL_WRITES");
    if (!spec || !spec[0]) return 0;
    char *end = NULL;
    unsigned long from = strtoul(spec, &end, 10);
    if (!end || *end != '-') return 0;
    const char *rest = end + 1;
    if (!rest[0]) return n >= from;
    unsigned long to = strtoul(rest, NULL, 10);
    return n >= from && n <= to;
}

ssize_t write(int fd, const void *buf, size_t count) {
    write_fn real_write = (write_fn)next_symbol("write");
    pthread_mutex_lock(&fakes_lock);
    struct fake_state *st = find_fake_locked(fd);
    if (!st) {
        pthread_mutex_unlock(&fakes_lock);
        return real_write(fd, buf, count);
    }
    if (write_must_fail(++write_attempts)) {
        st->bad_writes++;
        pthread_mutex_unlock(&fakes_lock);
        errno = ENODEV;
        return -1;
    }
    /* Like the driver: a frame is accepted only after S_FMT and only whole. */
    if (!st->configured || count != st->pix.sizeimage) {
        st->bad_writes++;
        pthread_mutex_unlock(&fakes_lock);
        errno = EINVAL;
        return -1;
    }
    const char *p = (const char *)buf;
    size_t left = count;
    while (left > 0) {
        ssize_t n = real_write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            pthread_mutex_unlock(&fakes_lock);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    st->frames++;
    pthread_mutex_unlock(&fakes_lock);
    return (ssize_t)count;
}

int close(int fd) {
    close_fn real_close = (close_fn)next_symbol("close");
    pthread_mutex_lock(&fakes_lock);
    struct fake_state *st = find_fake_locked(fd);
    if (st) {
        write_record_locked(st, 1);
        st->fd = -1;
    }
    pthread_mutex_unlock(&fakes_lock);
    return real_close(fd);
}
