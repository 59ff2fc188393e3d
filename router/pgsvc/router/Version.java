package pgsvc.router;

/** pgsvc's version, and the PgBouncer version whose behaviour and SHOW columns it follows. */
public final class Version {
    public static final String VERSION = "0.1.0";
    public static final String PGBOUNCER_COMPAT = "1.25.2";

    private Version() {
    }
}
