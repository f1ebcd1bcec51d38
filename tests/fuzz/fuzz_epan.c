/* fuzz_epan.c — libFuzzer target that drives the real mqttlens dissector
 * through libwireshark, with TCP reassembly and per-connection state.
 *
 * Each input is a small capture file: up to two TCP connections between
 * MQTT clients and a server on port 1883, with the segments and their
 * boundaries chosen by the fuzzer:
 *   byte 0      bit 2: start each connection with a TCP handshake
 *               bit 3: end each connection with FIN in both directions
 *   then chunks: a header byte (bit 7: 0 client->server, 1 server->client;
 *               bit 6: the second connection; bits 0-5: length, where 0
 *               repeats the direction's previous segment, a retransmission)
 *               and that many bytes, sent as one TCP segment.
 * The frames are Ethernet/IPv4/TCP, dissected with a protocol tree and the
 * columns, in two passes as "tshark -2" and the GUI do: the first pass
 * builds the state, the second reads it.
 *
 * Creating an epan session runs the init routines of every protocol, which
 * takes about a second under AddressSanitizer; so inputs share a session,
 * as the connections of one long capture would: each input gets its own
 * client addresses and the next frame numbers, and the session is renewed
 * every RENEW_EVERY inputs, which runs mqttlens' cleanup and init routines
 * and bounds memory.
 *
 * The plugin's sources are compiled into this program; plugin_register()
 * (plugin.c) registers it with epan as the plugin loader would.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <epan/column.h>
#include <epan/column-info.h>
#include <epan/epan.h>
#include <epan/epan_dissect.h>
#include <epan/frame_data.h>
#include <epan/prefs.h>
#include <epan/timestamp.h>
#include <wiretap/wtap.h>
#include <wsutil/filesystem.h>
#include <wsutil/privileges.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void plugin_register(void);

#define MAX_FRAMES 4096
#define HDR_LEN (14 + 20 + 20)
#define SERVER_PORT 1883
#define RENEW_EVERY 2000

struct packet_provider_data {
    frame_data *frames;
    uint32_t count;
};

typedef struct {
    uint8_t *bytes;
    uint32_t len;
} frame_buf_t;

typedef struct {
    uint32_t seq[2];       /* next sequence number per direction */
    const uint8_t *last[2]; /* previous segment per direction */
    uint32_t last_len[2];
    uint32_t last_seq[2];
    bool open;
} tcp_conn_t;

static epan_t *session;
static column_info cinfo;
static struct packet_provider_data prov;
static frame_data frames[MAX_FRAMES];
static frame_buf_t bufs[MAX_FRAMES];
static uint32_t nframes;
static uint32_t frame_base;   /* frames of earlier inputs in this session */
static uint32_t input_number; /* inputs in this session */

static const nstime_t *frame_ts(struct packet_provider_data *p, guint32 num)
{
    static const nstime_t earlier = NSTIME_INIT_ZERO;
    if (num <= frame_base || num > frame_base + p->count)
        return &earlier;
    return &p->frames[num - frame_base - 1].abs_ts;
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xFFFF);
}

/* One Ethernet/IPv4/TCP frame of connection c, direction dir (1 = from the server). */
static void add_frame(unsigned c, unsigned dir, uint32_t seq, uint32_t ack, uint8_t flags,
                      const uint8_t *payload, uint32_t len)
{
    if (nframes == MAX_FRAMES)
        return;
    uint8_t *f = calloc(1, HDR_LEN + len + 1);
    if (!f)
        abort();
    static const uint8_t mac_client[6] = {2, 0, 0, 0, 0, 1}, mac_server[6] = {2, 0, 0, 0, 0, 2};
    memcpy(f, dir ? mac_client : mac_server, 6);
    memcpy(f + 6, dir ? mac_server : mac_client, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put16(ip + 2, 20 + 20 + len);
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    uint32_t host = (input_number * 2 + c) & 0xFFFFFF;
    const uint8_t client[4] = {10, (uint8_t)(host >> 16), (uint8_t)(host >> 8), (uint8_t)host};
    const uint8_t server[4] = {192, 0, 2, 1};
    memcpy(ip + 12, dir ? server : client, 4);
    memcpy(ip + 16, dir ? client : server, 4);
    uint8_t *tcp = ip + 20;
    uint32_t client_port = 40000 + c;
    put16(tcp, dir ? SERVER_PORT : client_port);
    put16(tcp + 2, dir ? client_port : SERVER_PORT);
    put32(tcp + 4, seq);
    put32(tcp + 8, ack);
    tcp[12] = 0x50;
    tcp[13] = flags;
    put16(tcp + 14, 65535);
    if (len)
        memcpy(tcp + 20, payload, len);
    bufs[nframes].bytes = f;
    bufs[nframes].len = HDR_LEN + len;
    nframes++;
}

enum { FIN = 0x01, SYN = 0x02, PSH = 0x08, ACK = 0x10 };

static void segment(tcp_conn_t *k, unsigned c, unsigned dir, const uint8_t *p, uint32_t len, bool again)
{
    uint32_t seq = again ? k->last_seq[dir] : k->seq[dir];
    add_frame(c, dir, seq, k->seq[!dir], ACK | PSH, p, len);
    if (!again) {
        k->last[dir] = p;
        k->last_len[dir] = len;
        k->last_seq[dir] = seq;
        k->seq[dir] += len;
    }
}

static void handshake(tcp_conn_t *k, unsigned c, bool syn)
{
    k->open = true;
    k->seq[0] = 1000 + 7919 * c;
    k->seq[1] = 500000 + 104729 * c;
    if (!syn)
        return;
    add_frame(c, 0, k->seq[0]++, 0, SYN, NULL, 0);
    add_frame(c, 1, k->seq[1]++, k->seq[0], SYN | ACK, NULL, 0);
    add_frame(c, 0, k->seq[0], k->seq[1], ACK, NULL, 0);
}

static void finish(tcp_conn_t *k, unsigned c)
{
    add_frame(c, 0, k->seq[0]++, k->seq[1], FIN | ACK, NULL, 0);
    add_frame(c, 1, k->seq[1]++, k->seq[0], FIN | ACK, NULL, 0);
    add_frame(c, 0, k->seq[0], k->seq[1], ACK, NULL, 0);
}

static void build_frames(const uint8_t *data, size_t size)
{
    tcp_conn_t conns[2];
    memset(conns, 0, sizeof conns);
    bool syn = data[0] & 4, fin = data[0] & 8;
    size_t at = 1;
    while (at < size && nframes < MAX_FRAMES - 8) {
        unsigned dir = data[at] >> 7, c = (data[at] >> 6) & 1;
        uint32_t n = data[at] & 0x3F;
        at++;
        if (n > size - at)
            n = (uint32_t)(size - at);
        tcp_conn_t *k = &conns[c];
        if (!k->open)
            handshake(k, c, syn);
        if (n == 0 && k->last[dir])
            segment(k, c, dir, k->last[dir], k->last_len[dir], true);
        else if (n)
            segment(k, c, dir, data + at, n, false);
        at += n;
    }
    for (unsigned c = 0; c < 2; c++)
        if (fin && conns[c].open)
            finish(&conns[c], c);
}

static void dissect_all(bool first_pass)
{
    epan_dissect_t edt;
    const frame_data *prev = NULL, *ref = NULL;
    nstime_t elapsed = NSTIME_INIT_ZERO;
    guint32 cum = 0;
    for (uint32_t i = 0; i < nframes; i++) {
        frame_data *fd = &frames[i];
        wtap_rec rec;
        memset(&rec, 0, sizeof rec);
        rec.rec_type = REC_TYPE_PACKET;
        rec.presence_flags = WTAP_HAS_TS | WTAP_HAS_CAP_LEN;
        rec.ts.secs = 1700000000 + (time_t)(input_number * 1000 + i / 10);
        rec.ts.nsecs = (int)(i % 10) * 100000000;
        rec.rec_header.packet_header.caplen = bufs[i].len;
        rec.rec_header.packet_header.len = bufs[i].len;
        rec.rec_header.packet_header.pkt_encap = WTAP_ENCAP_ETHERNET;
        if (first_pass) {
            frame_data_init(fd, frame_base + i + 1, &rec, 0, cum);
            prov.count = i + 1;
            frame_data_set_before_dissect(fd, &elapsed, &ref, prev);
        }
        epan_dissect_init(&edt, session, TRUE, TRUE);
        tvbuff_t *tvb = tvb_new_real_data(bufs[i].bytes, bufs[i].len, bufs[i].len);
        epan_dissect_run(&edt, WTAP_FILE_TYPE_SUBTYPE_UNKNOWN, &rec, tvb, fd, &cinfo);
        epan_dissect_fill_in_columns(&edt, FALSE, TRUE);
        epan_dissect_cleanup(&edt);
        if (first_pass) {
            frame_data_set_after_dissect(fd, &cum);
            prev = fd;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    nframes = 0;
    build_frames(data, size);
    prov.frames = frames;
    prov.count = 0;
    static const struct packet_provider_funcs funcs = {frame_ts, NULL, NULL, NULL};
    if (session && input_number == RENEW_EVERY) {
        epan_free(session);
        session = NULL;
    }
    if (!session) {
        session = epan_new(&prov, &funcs);
        frame_base = 0;
        input_number = 0;
    }
    dissect_all(true);
    dissect_all(false);
    for (uint32_t i = 0; i < nframes; i++) {
        frame_data_destroy(&frames[i]);
        free(bufs[i].bytes);
    }
    frame_base += nframes;
    input_number++;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    /* wmem allocations go through malloc, so that AddressSanitizer sees
     * every block; no personal settings apply. */
    setenv("WIRESHARK_DEBUG_WMEM_OVERRIDE", "simple", 0);
    setenv("G_SLICE", "always-malloc", 0);
    setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
    setenv("HOME", "/nonexistent", 1);
    init_process_policies();
    char *err = configuration_init((*argv)[0], NULL);
    if (err) {
        fprintf(stderr, "fuzz_epan: %s\n", err);
        g_free(err);
    }
    timestamp_set_type(TS_RELATIVE);
    timestamp_set_precision(TS_PREC_AUTO);
    timestamp_set_seconds_type(TS_SECONDS_DEFAULT);
    wtap_init(FALSE);
    plugin_register();
    if (!epan_init(NULL, NULL, FALSE)) {
        fprintf(stderr, "fuzz_epan: epan_init failed\n");
        exit(1);
    }
    e_prefs *settings = epan_load_settings();
    build_column_format_array(&cinfo, settings->num_cols, TRUE);
    if (proto_get_id_by_filter_name("mqttlens") < 0) {
        fprintf(stderr, "fuzz_epan: mqttlens is not registered\n");
        exit(1);
    }
    return 0;
}
