package pgsvc.pooler.tls;

import java.util.Locale;

/**
 * client_tls_sslmode and server_tls_sslmode, in libpq's order so that "at least require" is a comparison. PgBouncer's
 * meaning differs by side: towards clients {@code prefer} is {@code allow} and {@code verify-full} is
 * {@code verify-ca} (a valid client certificate); towards PostgreSQL they are libpq's.
 */
public enum SslMode {
    DISABLE("disable"),
    ALLOW("allow"),
    PREFER("prefer"),
    REQUIRE("require"),
    VERIFY_CA("verify-ca"),
    VERIFY_FULL("verify-full");

    private final String configName;

    SslMode(String configName) {
        this.configName = configName;
    }

    public String configName() {
        return configName;
    }

    /** Whether plaintext is refused. */
    public boolean required() {
        return compareTo(REQUIRE) >= 0;
    }

    /** Whether the peer's certificate must chain to a trusted CA. */
    public boolean verifies() {
        return compareTo(VERIFY_CA) >= 0;
    }

    /** The setting's value (already checked against the allowed words by the config parser). */
    public static SslMode of(String value) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        for (SslMode m : values()) {
            if (m.configName.equals(v)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown sslmode: " + value);
    }
}
