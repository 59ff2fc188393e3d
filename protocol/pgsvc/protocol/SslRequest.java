package pgsvc.protocol;

/** SSLRequest: the client asks for TLS and waits for a single 'S' or 'N' byte. */
public final class SslRequest implements StartupPacket {

    public static final SslRequest INSTANCE = new SslRequest();

    private SslRequest() {
    }

    @Override
    public String toString() {
        return "SSLRequest";
    }
}
