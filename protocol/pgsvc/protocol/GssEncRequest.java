package pgsvc.protocol;

/** GSSENCRequest: the client asks for GSSAPI encryption and waits for a single 'G' or 'N' byte. */
public final class GssEncRequest implements StartupPacket {

    public static final GssEncRequest INSTANCE = new GssEncRequest();

    private GssEncRequest() {
    }

    @Override
    public String toString() {
        return "GSSENCRequest";
    }
}
