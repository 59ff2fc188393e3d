package pgsvc.pooler;

/** Where a pool's servers live: a host name or address (or a Unix socket directory) and a port. */
public record Endpoint(String host, int port) {
    @Override
    public String toString() {
        return host + ":" + port;
    }
}
