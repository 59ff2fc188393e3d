package pgsvc.pooler;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.util.List;
import java.util.Map;

import pgsvc.protocol.Messages;

/**
 * A pool's ParameterStatus set as its first server reported it, encoded once (PgBouncer keeps a pool's welcome
 * message too). A client gets each message as it is unless it asked for its own value of a tracked parameter; then
 * that one message is encoded with the client's value. A login copies bytes instead of encoding a dozen strings.
 */
final class Welcome {
    private final String[] names;
    /** The tracked-parameter index of each name, or -1. */
    private final int[] tracked;
    /** The server's values, shared instances (TrackedParams.canonical) where tracked. */
    private final String[] values;
    /** Each ParameterStatus message with the server's value, whole. */
    private final byte[][] messages;
    /** Their total length. */
    private final int size;

    Welcome(List<Map.Entry<String, String>> serverParams, TrackedParams params) {
        int n = serverParams.size();
        names = new String[n];
        tracked = new int[n];
        values = new String[n];
        messages = new byte[n][];
        ByteBuf scratch = Unpooled.buffer(64);
        int total = 0;
        for (int i = 0; i < n; i++) {
            Map.Entry<String, String> p = serverParams.get(i);
            names[i] = p.getKey();
            tracked[i] = params.indexOf(p.getKey());
            values[i] = tracked[i] >= 0 ? params.canonical(p.getValue()) : p.getValue();
            scratch.clear();
            Messages.parameterStatus(scratch, names[i], values[i]);
            messages[i] = new byte[scratch.readableBytes()];
            scratch.readBytes(messages[i]);
            total += messages[i].length;
        }
        scratch.release();
        size = total;
    }

    /**
     * Writes the ParameterStatus messages for a client: a tracked parameter the client did not set takes the
     * server's value, which is recorded in {@code vars}; one it set is reported with its own value.
     */
    void write(ByteBuf out, String[] vars) {
        for (int i = 0; i < names.length; i++) {
            int idx = tracked[i];
            if (idx >= 0) {
                String mine = vars[idx];
                if (mine == null) {
                    vars[idx] = values[i];
                } else if (mine != values[i] && !mine.equals(values[i])) {
                    Messages.parameterStatus(out, names[i], mine);
                    continue;
                }
            }
            out.writeBytes(messages[i]);
        }
    }

    /** The encoded size of the whole set with the server's values, for sizing the client's welcome buffer. */
    int size() {
        return size;
    }
}
