/*
 * edgewise_can: a small N-API helper for SocketCAN raw sockets.
 *
 * Why not the npm `socketcan` addon: it cannot set the socket's receive buffer and it does not
 * report frames the kernel dropped because that buffer was full, so a short event-loop stall
 * loses frames silently. This helper:
 *   - sets SO_RCVBUF (SO_RCVBUFFORCE when privileged), reports the size the kernel granted;
 *   - enables SO_RXQ_OVFL and reads SO_MEMINFO, so every kernel drop is counted;
 *   - receives with recvmmsg() in batches (one syscall for up to 64 frames), CAN FD included,
 *     kernel timestamps (SO_TIMESTAMPNS) and error frames (CAN_RAW_ERR_FILTER);
 *   - sends batches with sendmmsg() (replay).
 * Frames cross into JS through one shared buffer of fixed-size records, never one object per
 * frame. Record layout (REC_SIZE bytes, little-endian host order):
 *   0  u32  can_id (with CAN_EFF_FLAG / CAN_RTR_FLAG / CAN_ERR_FLAG)
 *   4  u8   data length (0..64)
 *   5  u8   CAN FD flags (CANFD_BRS 0x01, CANFD_ESI 0x02)
 *   6  u8   1 = CAN FD frame
 *   7  u8   reserved
 *   8  f64  kernel receive time, ms since the epoch
 *   16 u8[64] data
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <linux/can.h>
#include <linux/can/raw.h>

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SK_MEMINFO_VARS
#define SK_MEMINFO_RMEM_ALLOC 0
#define SK_MEMINFO_RCVBUF 1
#define SK_MEMINFO_DROPS 8
#define SK_MEMINFO_VARS 9
#endif

#define REC_SIZE 80
#define MAX_BATCH 64
#define MAX_ROUNDS 32
#define CTRL_SIZE (CMSG_SPACE(sizeof(struct timespec) * 2) + CMSG_SPACE(sizeof(uint32_t)) + 64)

typedef struct chan {
  int fd;
  int polling;
  int poll_inited;
  int closing;
  int poll_closed;
  int finalized;
  napi_env env;
  napi_ref cb;
  napi_ref buf;
  napi_async_context actx;
  uint8_t *rec;
  uint32_t maxrec;
  uint32_t drops;
  uv_poll_t poll;
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct canfd_frame frames[MAX_BATCH];
  char ctrl[MAX_BATCH][CTRL_SIZE];
} chan_t;

#define CHECK(call)                                                                \
  do {                                                                             \
    if ((call) != napi_ok) {                                                       \
      napi_throw_error(env, "EINTERNAL", "edgewise_can: N-API call failed: " #call); \
      return NULL;                                                                 \
    }                                                                              \
  } while (0)

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char *code = err == ENODEV ? "ENODEV" : err == ENETDOWN ? "ENETDOWN" : err == EPERM ? "EPERM"
                   : err == EACCES ? "EACCES" : err == EAFNOSUPPORT ? "EAFNOSUPPORT" : err == EINVAL ? "EINVAL"
                   : err == ENOBUFS ? "ENOBUFS" : err == EPROTONOSUPPORT ? "EPROTONOSUPPORT" : "EIO";
  napi_throw_error(env, code, msg);
  return NULL;
}

static chan_t *get_chan(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "EINVAL", "edgewise_can: not a channel handle");
    return NULL;
  }
  return (chan_t *)p;
}

static int get_opt_int(napi_env env, napi_value obj, const char *key, int64_t dflt, int64_t *out) {
  bool has = false;
  *out = dflt;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return 0;
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) return 0;
  if (t == napi_boolean) {
    bool b;
    napi_get_value_bool(env, v, &b);
    *out = b ? 1 : 0;
    return 0;
  }
  if (t != napi_number) return -1;
  return napi_get_value_int64(env, v, out) == napi_ok ? 0 : -1;
}

/* Freed once JS let go of the handle (finalizer) and libuv is done with the poll handle. */
static void maybe_free(chan_t *c) {
  if (c->finalized && (!c->poll_inited || c->poll_closed)) free(c);
}

static void on_poll_closed(uv_handle_t *h) {
  chan_t *c = (chan_t *)h->data;
  c->poll_closed = 1;
  maybe_free(c);
}

static void release_refs(chan_t *c) {
  napi_env env = c->env;
  if (c->cb) napi_delete_reference(env, c->cb);
  if (c->buf) napi_delete_reference(env, c->buf);
  if (c->actx) napi_async_destroy(env, c->actx);
  c->cb = NULL;
  c->buf = NULL;
  c->actx = NULL;
  c->rec = NULL;
}

static void stop_poll(chan_t *c) {
  if (c->polling) {
    uv_poll_stop(&c->poll);
    c->polling = 0;
  }
  release_refs(c);
}

/* Stop reading and close the socket (idempotent). */
static void close_chan(chan_t *c) {
  if (c->closing) return;
  c->closing = 1;
  stop_poll(c);
  if (c->poll_inited) uv_close((uv_handle_t *)&c->poll, on_poll_closed);
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
}

static void finalize_chan(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  chan_t *c = (chan_t *)data;
  close_chan(c);
  c->finalized = 1;
  maybe_free(c);
}

/* open(ifname, { fd, rcvbuf, errFrames, receive }) -> handle; throws with code ENODEV, EAFNOSUPPORT, ... */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ + 1];
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, "EINVAL", "edgewise_can.open: interface name must be a string of 1..15 characters");
    return NULL;
  }
  int64_t want_fd = 1, rcvbuf = 0, err_frames = 1, receive = 1;
  if (argc >= 2) {
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t == napi_object) {
      if (get_opt_int(env, argv[1], "fd", 1, &want_fd) || get_opt_int(env, argv[1], "rcvbuf", 0, &rcvbuf) ||
          get_opt_int(env, argv[1], "errFrames", 1, &err_frames) || get_opt_int(env, argv[1], "receive", 1, &receive)) {
        napi_throw_type_error(env, "EINVAL", "edgewise_can.open: bad option type");
        return NULL;
      }
    }
  }
  unsigned int ifindex = if_nametoindex(name);
  if (ifindex == 0) return throw_errno(env, ENODEV, name);

  int fd = socket(PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW);
  if (fd < 0) return throw_errno(env, errno, "socket(PF_CAN, SOCK_RAW, CAN_RAW)");
  int one = 1;
  if (want_fd) setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, &one, sizeof one); /* fails only on pre-3.6 kernels */
  if (!receive) {
    setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FILTER, NULL, 0); /* no filters: receive nothing */
  } else {
    if (err_frames) {
      can_err_mask_t mask = CAN_ERR_MASK;
      setsockopt(fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &mask, sizeof mask);
    }
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) < 0) {
      int e = errno;
      close(fd);
      return throw_errno(env, e, "setsockopt(SO_RXQ_OVFL)");
    }
    if (rcvbuf > 0) {
      int v = rcvbuf > 0x3fffffff ? 0x3fffffff : (int)rcvbuf;
      /* FORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; fall back to the capped one. */
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    }
  }
  struct sockaddr_can addr;
  memset(&addr, 0, sizeof addr);
  addr.can_family = AF_CAN;
  addr.can_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, name);
  }
  chan_t *c = (chan_t *)calloc(1, sizeof(chan_t));
  if (!c) {
    close(fd);
    return throw_errno(env, ENOMEM, "edgewise_can.open");
  }
  c->fd = fd;
  c->env = env;
  for (int i = 0; i < MAX_BATCH; i++) {
    c->iov[i].iov_base = &c->frames[i];
    c->iov[i].iov_len = sizeof(struct canfd_frame);
    c->msgs[i].msg_hdr.msg_iov = &c->iov[i];
    c->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  napi_value handle;
  if (napi_create_external(env, c, finalize_chan, NULL, &handle) != napi_ok) {
    close(fd);
    free(c);
    napi_throw_error(env, "EINTERNAL", "edgewise_can.open: napi_create_external failed");
    return NULL;
  }
  return handle;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  chan_t *c = (chan_t *)h->data;
  if (!c->polling) return;
  napi_env env = c->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  int pending_err = 0;
  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF and stops the handle. The socket's real error (ENETDOWN
       when the interface went down, ENODEV when it was removed) is in SO_ERROR (reading clears it). */
    int soerr = 0;
    socklen_t l = sizeof soerr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &l) == 0 && soerr != 0) pending_err = soerr;
    else pending_err = -status;
    if (uv_poll_start(&c->poll, UV_READABLE, on_poll) != 0) c->polling = 0;
  }
  for (int round = 0; round < MAX_ROUNDS && c->polling; round++) {
    int n = 0, err = 0;
    if (pending_err != 0) {
      err = pending_err;
      pending_err = 0;
    } else {
      uint32_t want = c->maxrec;
      for (uint32_t i = 0; i < want; i++) {
        c->msgs[i].msg_hdr.msg_name = NULL;
        c->msgs[i].msg_hdr.msg_namelen = 0;
        c->msgs[i].msg_hdr.msg_control = c->ctrl[i];
        c->msgs[i].msg_hdr.msg_controllen = CTRL_SIZE;
        c->msgs[i].msg_hdr.msg_flags = 0;
      }
      n = recvmmsg(c->fd, c->msgs, want, MSG_DONTWAIT, NULL);
      if (n < 0) {
        err = errno;
        n = 0;
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) break;
      }
    }
    double fallback = -1;
    uint8_t *rec = c->rec;
    for (int i = 0; i < n; i++) {
      struct msghdr *m = &c->msgs[i].msg_hdr;
      struct canfd_frame *f = &c->frames[i];
      double ts = -1;
      for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET) continue;
        if (cm->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec t;
          memcpy(&t, CMSG_DATA(cm), sizeof t);
          ts = (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
        } else if (cm->cmsg_type == SO_RXQ_OVFL) {
          uint32_t d;
          memcpy(&d, CMSG_DATA(cm), sizeof d);
          c->drops = d;
        }
      }
      if (ts < 0) {
        if (fallback < 0) fallback = now_ms();
        ts = fallback;
      }
      uint8_t *r = rec + (size_t)i * REC_SIZE;
      int is_fd = c->msgs[i].msg_len == CANFD_MTU;
      uint8_t dlen = f->len > (is_fd ? 64 : 8) ? (is_fd ? 64 : 8) : f->len;
      uint32_t id = f->can_id;
      memcpy(r, &id, 4);
      r[4] = dlen;
      r[5] = is_fd ? f->flags : 0;
      r[6] = (uint8_t)is_fd;
      r[7] = 0;
      memcpy(r + 8, &ts, 8);
      memcpy(r + 16, f->data, dlen);
    }
    napi_value cb, recv, argv[3], result;
    if (napi_get_reference_value(env, c->cb, &cb) != napi_ok || cb == NULL) break;
    napi_get_global(env, &recv);
    napi_create_uint32(env, (uint32_t)n, &argv[0]);
    napi_create_double(env, (double)c->drops, &argv[1]);
    napi_create_int32(env, err, &argv[2]);
    napi_status st = napi_make_callback(env, c->actx, recv, cb, 3, argv, &result);
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
      break;
    }
    if (err != 0) {
      if (round == 0 && status < 0) continue; /* the POLLERR report: now read what is queued */
      break;
    }
    if ((uint32_t)n < c->maxrec) break;
  }
  napi_close_handle_scope(env, scope);
}

/* startReading(handle, arrayBuffer, callback(count, dropsTotal, errno)) */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, "EINVAL", "edgewise_can.startReading(handle, arrayBuffer, callback)");
    return NULL;
  }
  chan_t *c = get_chan(env, argv[0]);
  if (!c) return NULL;
  if (c->closing || c->fd < 0) return throw_errno(env, EBADF, "edgewise_can.startReading");
  if (c->polling) return NULL;
  void *data = NULL;
  size_t bytes = 0;
  if (napi_get_arraybuffer_info(env, argv[1], &data, &bytes) != napi_ok || bytes < REC_SIZE) {
    napi_throw_type_error(env, "EINVAL", "edgewise_can.startReading: need an ArrayBuffer of at least one record");
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "EINVAL", "edgewise_can.startReading: callback must be a function");
    return NULL;
  }
  c->rec = (uint8_t *)data;
  c->maxrec = (uint32_t)(bytes / REC_SIZE);
  if (c->maxrec > MAX_BATCH) c->maxrec = MAX_BATCH;
  CHECK(napi_create_reference(env, argv[2], 1, &c->cb));
  CHECK(napi_create_reference(env, argv[1], 1, &c->buf));
  napi_value res_name;
  CHECK(napi_create_string_utf8(env, "edgewise:socketcan", NAPI_AUTO_LENGTH, &res_name));
  CHECK(napi_async_init(env, NULL, res_name, &c->actx));
  if (!c->poll_inited) {
    uv_loop_t *loop = NULL;
    CHECK(napi_get_uv_event_loop(env, (struct uv_loop_s **)&loop));
    int r = uv_poll_init_socket(loop, &c->poll, c->fd);
    if (r != 0) return throw_errno(env, -r, "uv_poll_init");
    c->poll.data = c;
    c->poll_inited = 1;
  }
  int r = uv_poll_start(&c->poll, UV_READABLE, on_poll);
  if (r != 0) return throw_errno(env, -r, "uv_poll_start");
  c->polling = 1;
  return NULL;
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  chan_t *c = argc ? get_chan(env, argv[0]) : NULL;
  if (!c) return NULL;
  if (!c->closing) stop_poll(c);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  chan_t *c = argc ? get_chan(env, argv[0]) : NULL;
  if (!c) return NULL;
  close_chan(c);
  return NULL;
}

/* send(handle, arrayBuffer, offsetRecords, count) -> frames sent (>= 0) or -errno when the first failed */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, "EINVAL", "edgewise_can.send(handle, arrayBuffer, offset, count)");
    return NULL;
  }
  chan_t *c = get_chan(env, argv[0]);
  if (!c) return NULL;
  if (c->closing || c->fd < 0) return throw_errno(env, EBADF, "edgewise_can.send");
  void *data = NULL;
  size_t bytes = 0;
  uint32_t off = 0, count = 0;
  if (napi_get_arraybuffer_info(env, argv[1], &data, &bytes) != napi_ok || napi_get_value_uint32(env, argv[2], &off) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &count) != napi_ok || ((size_t)off + count) * REC_SIZE > bytes) {
    napi_throw_type_error(env, "EINVAL", "edgewise_can.send: bad buffer range");
    return NULL;
  }
  if (count > MAX_BATCH) count = MAX_BATCH;
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct canfd_frame frames[MAX_BATCH];
  memset(msgs, 0, sizeof(struct mmsghdr) * count);
  const uint8_t *rec = (const uint8_t *)data + (size_t)off * REC_SIZE;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *r = rec + (size_t)i * REC_SIZE;
    struct canfd_frame *f = &frames[i];
    memset(f, 0, sizeof *f);
    memcpy(&f->can_id, r, 4);
    int is_fd = r[6] != 0;
    uint8_t dlen = r[4] > (is_fd ? 64 : 8) ? (is_fd ? 64 : 8) : r[4];
    f->len = dlen;
    f->flags = is_fd ? r[5] : 0;
    memcpy(f->data, r + 16, dlen);
    iov[i].iov_base = f;
    iov[i].iov_len = is_fd ? CANFD_MTU : CAN_MTU;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n = count ? sendmmsg(c->fd, msgs, count, MSG_DONTWAIT) : 0;
  napi_value out;
  CHECK(napi_create_int32(env, n < 0 ? -errno : n, &out));
  return out;
}

/* stats(handle) -> { drops, rmemAlloc, rcvbuf } from SO_MEMINFO (drops: the socket's total) */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  chan_t *c = argc ? get_chan(env, argv[0]) : NULL;
  if (!c) return NULL;
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  if (c->fd < 0) return out;
  uint32_t mi[SK_MEMINFO_VARS];
  socklen_t l = sizeof mi;
  memset(mi, 0, sizeof mi);
  double drops = c->drops, rmem = -1, rcvbuf = -1;
  if (getsockopt(c->fd, SOL_SOCKET, SO_MEMINFO, mi, &l) == 0 && l >= sizeof(uint32_t) * (SK_MEMINFO_DROPS + 1)) {
    if (mi[SK_MEMINFO_DROPS] > c->drops) drops = mi[SK_MEMINFO_DROPS];
    rmem = mi[SK_MEMINFO_RMEM_ALLOC];
    rcvbuf = mi[SK_MEMINFO_RCVBUF];
  } else {
    int b = 0;
    socklen_t bl = sizeof b;
    if (getsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &b, &bl) == 0) rcvbuf = b;
  }
  napi_create_double(env, drops, &v);
  napi_set_named_property(env, out, "drops", v);
  napi_create_double(env, rmem, &v);
  napi_set_named_property(env, out, "rmemAlloc", v);
  napi_create_double(env, rcvbuf, &v);
  napi_set_named_property(env, out, "rcvbuf", v);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"startReading", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"stopReading", NULL, js_stop, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value v;
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_create_uint32(env, REC_SIZE, &v);
  napi_set_named_property(env, exports, "RECORD_SIZE", v);
  napi_create_uint32(env, MAX_BATCH, &v);
  napi_set_named_property(env, exports, "MAX_BATCH", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
