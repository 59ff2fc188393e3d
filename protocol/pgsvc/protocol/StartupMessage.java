package pgsvc.protocol;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * StartupMessage. For protocol 3.x the parameters are the name/value pairs in the order the client sent them (a
 * repeated name keeps its last value, as the server's GUC processing would). For any other major version the body
 * is not parsed and the parameters are empty: the pooler only needs the version to refuse the connection.
 *
 * @param protocolVersion major version in the high 16 bits, minor in the low 16
 * @param parameters      unmodifiable, in the client's order
 */
public record StartupMessage(int protocolVersion, Map<String, String> parameters) implements StartupPacket {

    public StartupMessage {
        parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    }

    public int majorVersion() {
        return Protocol.majorVersion(protocolVersion);
    }

    public int minorVersion() {
        return Protocol.minorVersion(protocolVersion);
    }

    /** The value of a startup parameter such as "user" or "database", or null if the client did not send it. */
    public String parameter(String name) {
        return parameters.get(name);
    }
}
