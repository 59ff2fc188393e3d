package pgsvc.pooler;

import java.util.Arrays;

import io.netty.buffer.ByteBuf;

import pgsvc.pooler.PreparedStatements.Statement;

/**
 * A client's named prepared statements: name bytes to pooler-wide statement. Keyed by the bytes of the name so that
 * a Bind is looked up where it lies in the batch, without decoding a String per message (open addressing, linear
 * probing). Touched only on the client's event loop.
 */
final class StatementNames {
    private byte[][] keys = new byte[16][];
    private Statement[] values = new Statement[16];
    private int size;

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    /** The statement named by {@code length} bytes at {@code index} of {@code buf}, or null. */
    Statement get(ByteBuf buf, int index, int length) {
        int mask = keys.length - 1;
        for (int slot = hash(buf, index, length) & mask; keys[slot] != null; slot = (slot + 1) & mask) {
            if (equal(keys[slot], buf, index, length)) {
                return values[slot];
            }
        }
        return null;
    }

    Statement get(byte[] name) {
        int slot = find(name);
        return slot < 0 ? null : values[slot];
    }

    /** Maps a name that is not mapped yet; the array is kept, not copied. */
    void put(byte[] name, Statement statement) {
        if ((size + 1) * 2 > keys.length) {
            grow();
        }
        int mask = keys.length - 1;
        int slot = hash(name) & mask;
        while (keys[slot] != null) {
            if (Arrays.equals(keys[slot], name)) {
                values[slot] = statement;
                return;
            }
            slot = (slot + 1) & mask;
        }
        keys[slot] = name;
        values[slot] = statement;
        size++;
    }

    /** Maps the name unless it is mapped already; returns whether it did. */
    boolean putIfAbsent(byte[] name, Statement statement) {
        if (find(name) >= 0) {
            return false;
        }
        put(name, statement);
        return true;
    }

    /** Unmaps the name if it maps to {@code statement}; returns whether it did. */
    boolean remove(byte[] name, Statement statement) {
        int slot = find(name);
        if (slot < 0 || values[slot] != statement) {
            return false;
        }
        delete(slot);
        return true;
    }

    /** Unmaps and returns the statement named by {@code name}, or null. */
    Statement remove(byte[] name) {
        int slot = find(name);
        if (slot < 0) {
            return null;
        }
        Statement s = values[slot];
        delete(slot);
        return s;
    }

    /** A name of the statement with this id, or null; a scan, for the rare error that names a statement. */
    byte[] nameOf(long id) {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null && values[i].id == id) {
                return keys[i];
            }
        }
        return null;
    }

    void clear() {
        Arrays.fill(keys, null);
        Arrays.fill(values, null);
        size = 0;
    }

    private int find(byte[] name) {
        int mask = keys.length - 1;
        for (int slot = hash(name) & mask; keys[slot] != null; slot = (slot + 1) & mask) {
            if (Arrays.equals(keys[slot], name)) {
                return slot;
            }
        }
        return -1;
    }

    /** Removes a slot and shifts later members of its probe run back, so that lookups need no tombstones. */
    private void delete(int slot) {
        int mask = keys.length - 1;
        keys[slot] = null;
        values[slot] = null;
        size--;
        int hole = slot;
        for (int i = (slot + 1) & mask; keys[i] != null; i = (i + 1) & mask) {
            int home = hash(keys[i]) & mask;
            // Move i into the hole unless its home lies cyclically in (hole, i].
            boolean stays = hole <= i ? hole < home && home <= i : hole < home || home <= i;
            if (!stays) {
                keys[hole] = keys[i];
                values[hole] = values[i];
                keys[i] = null;
                values[i] = null;
                hole = i;
            }
        }
    }

    private void grow() {
        byte[][] oldKeys = keys;
        Statement[] oldValues = values;
        keys = new byte[oldKeys.length * 2][];
        values = new Statement[oldKeys.length * 2];
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != null) {
                put(oldKeys[i], oldValues[i]);
            }
        }
    }

    private static int hash(byte[] name) {
        int h = 1;
        for (byte b : name) {
            h = 31 * h + b;
        }
        return h ^ (h >>> 16);
    }

    private static int hash(ByteBuf buf, int index, int length) {
        int h = 1;
        for (int i = index; i < index + length; i++) {
            h = 31 * h + buf.getByte(i);
        }
        return h ^ (h >>> 16);
    }

    private static boolean equal(byte[] key, ByteBuf buf, int index, int length) {
        if (key.length != length) {
            return false;
        }
        for (int i = 0; i < length; i++) {
            if (key[i] != buf.getByte(index + i)) {
                return false;
            }
        }
        return true;
    }
}
