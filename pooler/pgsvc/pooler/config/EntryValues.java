package pgsvc.pooler.config;

import java.util.Map;

/** Value checks shared by the [databases], [users] and [peers] parsers. */
final class EntryValues {
    private EntryValues() {
    }

    /**
     * A decimal integer. PgBouncer uses {@code atoi} here, which turns garbage into 0; a typo that silently means
     * "inherit" or "unlimited" is worse than an error, so anything but an integer is refused.
     */
    static Integer integer(Map<String, String> params, String key) {
        String value = params.get(key);
        if (value == null) {
            return null;
        }
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid value \"" + value + "\" for " + key + ": expected an integer");
        }
    }

    /** PgBouncer stores -1 for "not set", so any negative count inherits the global value. */
    static Integer count(Map<String, String> params, String key) {
        Integer v = integer(params, key);
        return v == null || v < 0 ? null : v;
    }

    /** Per-entry timeouts in integer seconds where PgBouncer reads 0 or less as "use the global value". */
    static Integer positiveSeconds(Map<String, String> params, String key) {
        Integer v = integer(params, key);
        return v == null || v <= 0 ? null : v;
    }

    static PoolMode poolMode(Map<String, String> params) {
        String value = params.get("pool_mode");
        if (value == null) {
            return null;
        }
        PoolMode mode = PoolMode.fromConfig(value);
        if (mode == null) {
            throw new IllegalArgumentException("invalid pool mode: " + value);
        }
        return mode;
    }

    /** A port as PgBouncer accepts it ({@code atoi}, 0 refused), but also refusing what no socket can use. */
    static int port(Map<String, String> params, int defaultPort) {
        String value = params.get("port");
        if (value == null) {
            return defaultPort;
        }
        int port;
        try {
            port = Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid port: " + value);
        }
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("invalid port: " + value);
        }
        return port;
    }
}
