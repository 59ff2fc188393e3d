package pgsvc.pooler;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.config.PeerEntry;

/**
 * PgBouncer's peering (1.19; the key layout of 1.21+, {@code src/client.c}, {@code src/objects.c}). With
 * {@code peer_id} set, each cancel key a client is given carries that id in its second and third bytes
 * (little-endian) and a forwarding TTL of 3 in the low two bits of its last byte. Several processes share a port
 * with so_reuseport (or sit behind an L4 balancer), so a CancelRequest may reach a process that did not issue the
 * key: the key names the one that did, and the request is passed on to that peer's {@code [peers]} address with the
 * TTL one lower. A request whose TTL is used up, or whose peer is not listed, is dropped, as PgBouncer drops it.
 */
final class Peering {
    private static final Logger log = LoggerFactory.getLogger(Peering.class);
    /** The TTL bits of the key's last byte; PgBouncer's CANCELLATION_TTL_MASK. */
    static final long TTL_MASK = 0x03;
    private static final long PEER_BYTES = 0x00FFFF00_00000000L;

    private final Pooler pooler;
    /** One pool per peer that a request was forwarded to, made on first use as PgBouncer makes its peer pools. */
    private final Map<Integer, PeerPool> pools = new ConcurrentHashMap<>();

    Peering(Pooler pooler) {
        this.pooler = pooler;
    }

    /** A random key with this process's peer id in bytes 1-2 and the full TTL. */
    static long encode(long random, int peerId) {
        long key = random & ~PEER_BYTES;
        key |= (long) (peerId & 0xFF) << 48 | (long) ((peerId >>> 8) & 0xFF) << 40;
        return key | TTL_MASK;
    }

    /** The peer id a key carries (bytes 1-2, little-endian). */
    static int peerId(long key) {
        return (int) ((key >>> 48) & 0xFF) | (int) ((key >>> 40) & 0xFF) << 8;
    }

    /**
     * Passes a CancelRequest on to the peer its key names. Called on the event loop of the connection it came on;
     * the forward itself runs on the peer pool's loop.
     */
    void forward(long key) {
        int peerId = peerId(key);
        if ((key & TTL_MASK) == 0) {
            log.debug("failed to forward cancel request because its TTL was exhausted (peer {})", peerId);
            return;
        }
        PeerEntry peer = pooler.config().peers().get(peerId);
        if (peer == null) {
            log.debug("could not find peer {} to forward a cancel request to", peerId);
            return;
        }
        pools.computeIfAbsent(peerId, id -> new PeerPool(pooler, id, pooler.workers().next()))
                .forward(key - 1);
    }

    /** SHOW PEER_POOLS rows: peer_id, cl_active_cancel_req, cl_waiting_cancel_req, sv_active_cancel, sv_login. */
    List<Object[]> rows() {
        List<PeerPool> all = new ArrayList<>(pools.values());
        all.sort(Comparator.comparingInt(PeerPool::peerId));
        List<Object[]> rows = new ArrayList<>();
        for (PeerPool p : all) {
            int active = p.active();
            rows.add(new Object[] {p.peerId(), active, p.waiting(), active, p.login()});
        }
        return rows;
    }

    int poolCount() {
        return pools.size();
    }
}
