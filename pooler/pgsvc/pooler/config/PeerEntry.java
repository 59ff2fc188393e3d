package pgsvc.pooler.config;

import java.util.Map;
import java.util.Set;

/**
 * One {@code [peers]} entry ({@code src/loader.c parse_peer}): another process of the same so_reuseport group, to which
 * cancel requests carrying its peer id are forwarded. Immutable.
 */
public final class PeerEntry {
    public static final Set<String> KEYS = Set.of("host", "port", "pool_size");

    private final int id;
    private final String host;
    private final int port;
    private final Integer poolSize;

    private PeerEntry(int id, String host, int port, Integer poolSize) {
        this.id = id;
        this.host = host;
        this.port = port;
        this.poolSize = poolSize;
    }

    /**
     * Parses {@code <peer_id> = host=... [port=...] [pool_size=...]}.
     *
     * @throws IllegalArgumentException when the id is not 1..65535, host is missing, or a key is unknown
     */
    public static PeerEntry parse(String name, String connstr) {
        int id;
        try {
            id = name.chars().allMatch(c -> c >= '0' && c <= '9') ? Integer.parseInt(name) : 0;
        } catch (NumberFormatException e) {
            id = 0;
        }
        if (id < 1 || id > 0xFFFF) {
            throw new IllegalArgumentException("invalid peer id \"" + name
                    + "\": ids of peers must be a number from 1 to 65535");
        }
        Map<String, String> params = ConnectionString.parse(connstr);
        for (String key : params.keySet()) {
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("unrecognized connection parameter: " + key);
            }
        }
        String host = params.get("host");
        if (host == null) {
            throw new IllegalArgumentException("host was not provided for peer " + id);
        }
        return new PeerEntry(id, host, EntryValues.port(params, 6432), EntryValues.count(params, "pool_size"));
    }

    /** The peer's {@code peer_id}. */
    public int id() {
        return id;
    }

    /** Host name, IP address, Unix socket directory ({@code /dir}) or abstract socket ({@code @name}). */
    public String host() {
        return host;
    }

    public int port() {
        return port;
    }

    /** Maximum concurrent cancel forwards to this peer; null means {@code default_pool_size}. */
    public Integer poolSize() {
        return poolSize;
    }

    @Override
    public String toString() {
        return "PeerEntry[" + id + " host=" + host + " port=" + port + "]";
    }
}
