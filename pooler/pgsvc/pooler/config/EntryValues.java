package pgsvc.pooler.config;

import java.util.Map;

/** Value checks shared by the [databases], [users], [peers], [hosts] and [services] parsers. */
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
        return port(params, "port", defaultPort);
    }

    /** {@link #port(Map, int)} for any key, e.g. {@code patroni_port}; the error names the key. */
    static int port(Map<String, String> params, String key, int defaultPort) {
        String value = params.get(key);
        if (value == null) {
            return defaultPort;
        }
        int port;
        try {
            port = Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid " + key + ": " + value);
        }
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("invalid " + key + ": " + value);
        }
        return port;
    }

    /** A decimal integer within {@code min..max}, or {@code defaultValue} when the key is absent. */
    static int bounded(Map<String, String> params, String key, int defaultValue, int min, int max) {
        Integer v = integer(params, key);
        if (v == null) {
            return defaultValue;
        }
        if (v < min || v > max) {
            throw new IllegalArgumentException("invalid value \"" + params.get(key) + "\" for " + key
                    + (max == Integer.MAX_VALUE ? ": must be at least " + min
                            : ": expected an integer from " + min + " to " + max));
        }
        return v;
    }

    /** A flag written {@code 0} or {@code 1}, as PgBouncer's booleans are; words such as {@code yes} are refused. */
    static boolean flag(Map<String, String> params, String key) {
        String value = params.get(key);
        if (value == null || value.equals("0")) {
            return false;
        }
        if (value.equals("1")) {
            return true;
        }
        throw new IllegalArgumentException("invalid value \"" + value + "\" for " + key
                + ": expected 0 (off) or 1 (on)");
    }
}
