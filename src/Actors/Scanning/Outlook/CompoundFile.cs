using System.Buffers.Binary;
using System.Collections;
using System.Text;

namespace MailScanner.Actors.Scanning.Outlook;

/// <summary>The type of a directory entry of a compound file (MS-CFB 2.6.1).</summary>
public enum CompoundFileEntryType : byte
{
    Unknown = 0,
    Storage = 1,
    Stream = 2,
    Root = 5,
}

/// <summary>One directory entry of a compound file: a storage (a folder) or a stream (a file).</summary>
/// <param name="Id">Its index in the directory.</param>
/// <param name="Size">The stream's length in bytes (for the root, the mini stream's), already checked to fit in the file.</param>
public sealed record CompoundFileEntry(int Id, string Name, CompoundFileEntryType Type, uint Left, uint Right, uint Child, uint StartSector, long Size)
{
    public bool IsStorage => Type is CompoundFileEntryType.Storage or CompoundFileEntryType.Root;
}

/// <summary>A compound file that cannot be read: truncated, a chain that loops or runs off the file, an entry out of range.</summary>
public sealed class CompoundFileException(string message) : Exception(message);

/// <summary>
/// A minimal, read-only reader of MS-CFB compound files (OLE structured storage, what an Outlook .msg is), over bytes
/// already in memory. Our own because no CFB library is served here, and because every byte of it comes from the
/// sender: each sector number, chain, size and sibling link is checked before it is followed, so a chain that loops,
/// runs off the file or is shorter than its stream, or a directory tree with cycles, is a
/// <see cref="CompoundFileException"/>, never an endless walk or a read outside the buffer. It allocates only the
/// sector lists it follows and the streams it is asked for; the caller bounds those (every stream's size is checked
/// against the file's length before it is returned). Not thread-safe: it keeps the storages it has listed.
/// </summary>
public sealed class CompoundFile
{
    /// <summary>The first eight bytes of every compound file.</summary>
    public static ReadOnlySpan<byte> Signature => [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

    private const uint MaxRegularSector = 0xFFFFFFFA, EndOfChain = 0xFFFFFFFE, NoStream = 0xFFFFFFFF;
    private const int HeaderDifatEntries = 109, EntrySize = 128, MiniSectorSize = 64, MiniStreamCutoff = 4096;

    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly int _sectorSize;
    private readonly int _sectorCount;
    private readonly uint[] _fatSectors;
    private readonly uint[] _miniFatSectors;
    private readonly uint[] _miniStreamSectors;
    private readonly CompoundFileEntry[] _entries;
    /// <summary>The storages listed so far, and which storage each listed entry belongs to (-1: none yet).</summary>
    private readonly Dictionary<int, List<CompoundFileEntry>> _children = [];
    private int[]? _owners;

    private CompoundFile(ReadOnlyMemory<byte> bytes, int sectorSize, int sectorCount, uint[] fatSectors)
    {
        _bytes = bytes;
        _sectorSize = sectorSize;
        _sectorCount = sectorCount;
        _fatSectors = fatSectors;
        _miniFatSectors = [];
        _miniStreamSectors = [];
        _entries = [];
    }

    private CompoundFile(CompoundFile file, uint[] miniFatSectors, uint[] miniStreamSectors, CompoundFileEntry[] entries)
    {
        _bytes = file._bytes;
        _sectorSize = file._sectorSize;
        _sectorCount = file._sectorCount;
        _fatSectors = file._fatSectors;
        _miniFatSectors = miniFatSectors;
        _miniStreamSectors = miniStreamSectors;
        _entries = entries;
    }

    public static bool HasSignature(ReadOnlySpan<byte> content) => content.StartsWith(Signature);

    /// <summary>The root storage.</summary>
    public CompoundFileEntry Root => _entries[0];

    /// <summary>How many directory entries the file has.</summary>
    public int EntryCount => _entries.Length;

    /// <summary>
    /// Reads the header, the sector allocation tables and the directory. <paramref name="maxEntries"/> bounds the
    /// directory (every entry is an object here). Throws <see cref="CompoundFileException"/> for anything malformed.
    /// </summary>
    public static CompoundFile Open(ReadOnlyMemory<byte> bytes, int maxEntries)
    {
        var span = bytes.Span;
        if (span.Length < 512 || !HasSignature(span)) throw new CompoundFileException("not a compound file (no signature or shorter than its header)");
        if (BinaryPrimitives.ReadUInt16LittleEndian(span[28..]) != 0xFFFE) throw new CompoundFileException("wrong byte order mark");
        var sectorShift = BinaryPrimitives.ReadUInt16LittleEndian(span[30..]);
        var major = BinaryPrimitives.ReadUInt16LittleEndian(span[26..]);
        if (!(major == 3 && sectorShift == 9 || major == 4 && sectorShift == 12))
            throw new CompoundFileException($"unsupported version {major} with sectors of 2^{sectorShift} bytes");
        if (BinaryPrimitives.ReadUInt16LittleEndian(span[32..]) != 6) throw new CompoundFileException("mini sectors are not 64 bytes");
        if (BinaryPrimitives.ReadUInt32LittleEndian(span[56..]) != MiniStreamCutoff) throw new CompoundFileException("mini stream cutoff is not 4096");
        var sectorSize = 1 << sectorShift;
        if (span.Length < sectorSize) throw new CompoundFileException("shorter than its header sector");
        // The last sector may be cut short by some writers; reads check that what they need is there.
        var sectorCount = (int)Math.Min(MaxRegularSector, ((long)span.Length - sectorSize + sectorSize - 1) / sectorSize);

        var fatSectors = FatSectors(span, sectorSize, sectorCount);
        var file = new CompoundFile(bytes, sectorSize, sectorCount, fatSectors);

        var directory = file.Chain(BinaryPrimitives.ReadUInt32LittleEndian(span[48..]), expectedSectors: null, "directory");
        var entryCount = (long)directory.Length * (sectorSize / EntrySize);
        if (entryCount > maxEntries) throw new CompoundFileException($"more than {maxEntries} directory entries");
        var entries = new CompoundFileEntry[entryCount];
        var raw = new byte[EntrySize];
        for (var i = 0; i < entries.Length; i++)
        {
            var sector = directory[i / (sectorSize / EntrySize)];
            file.CopySectorPart(sector, i % (sectorSize / EntrySize) * EntrySize, raw, "directory");
            entries[i] = Entry(i, raw, major, span.Length);
        }
        if (entries.Length == 0 || entries[0].Type != CompoundFileEntryType.Root) throw new CompoundFileException("the first directory entry is not the root");

        var miniFatCount = BinaryPrimitives.ReadUInt32LittleEndian(span[64..]);
        var root = entries[0];
        if (root.Size == 0 || miniFatCount == 0) return new CompoundFile(file, [], [], entries);
        if (miniFatCount > (uint)sectorCount) throw new CompoundFileException("more mini FAT sectors than the file has");
        var miniFat = file.Chain(BinaryPrimitives.ReadUInt32LittleEndian(span[60..]), (int)miniFatCount, "mini FAT");
        var miniStream = file.Chain(root.StartSector, SectorsFor(root.Size, sectorSize), "mini stream");
        return new CompoundFile(file, miniFat, miniStream, entries);
    }

    /// <summary>
    /// The storages and streams directly inside <paramref name="storage"/> (its red-black tree of siblings), by name.
    /// Listed once per storage and kept: an entry reached from two storages is malformed (it would let a small file
    /// make every listing walk the whole directory again).
    /// </summary>
    public IReadOnlyList<CompoundFileEntry> Children(CompoundFileEntry storage)
    {
        if (_children.TryGetValue(storage.Id, out var listed)) return listed;
        var children = new List<CompoundFileEntry>();
        _children[storage.Id] = children;
        if (!storage.IsStorage || storage.Child == NoStream) return children;
        _owners ??= Enumerable.Repeat(-1, _entries.Length).ToArray();
        var pending = new Stack<uint>();
        pending.Push(storage.Child);
        while (pending.Count > 0)
        {
            var id = pending.Pop();
            if (id == NoStream) continue;
            if (id >= _entries.Length) throw new CompoundFileException($"directory entry {id} does not exist");
            if (_owners[id] == storage.Id || id == 0) throw new CompoundFileException($"directory entry {id} is reached twice (a cycle)");
            if (_owners[id] >= 0) throw new CompoundFileException($"directory entry {id} belongs to two storages");
            _owners[id] = storage.Id;
            var entry = _entries[id];
            if (entry.Type is not (CompoundFileEntryType.Storage or CompoundFileEntryType.Stream))
                throw new CompoundFileException($"directory entry {id} is neither a storage nor a stream");
            children.Add(entry);
            pending.Push(entry.Left);
            pending.Push(entry.Right);
        }
        children.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return children;
    }

    /// <summary>
    /// The first <paramref name="maxBytes"/> bytes of a stream (all of it when it is shorter), following its sector
    /// chain in the FAT or, for a small stream, the mini FAT. The caller takes <see cref="CompoundFileEntry.Size"/>
    /// (at most) from its budget first.
    /// </summary>
    public byte[] Read(CompoundFileEntry stream, long maxBytes = long.MaxValue)
    {
        if (stream.Type != CompoundFileEntryType.Stream) throw new CompoundFileException($"{stream.Name} is not a stream");
        var length = (int)Math.Min(stream.Size, maxBytes);
        var buffer = new byte[length];
        if (length == 0) return buffer;
        if (stream.Size < MiniStreamCutoff) ReadMini(stream, buffer);
        else
        {
            var sectors = Chain(stream.StartSector, SectorsFor(length, _sectorSize), stream.Name);
            for (var i = 0; i < sectors.Length; i++)
                CopySectorPart(sectors[i], 0, buffer.AsSpan(i * _sectorSize, Math.Min(_sectorSize, length - i * _sectorSize)), stream.Name);
        }
        return buffer;
    }

    private void ReadMini(CompoundFileEntry stream, byte[] buffer)
    {
        var miniSectorCount = (long)_miniStreamSectors.Length * _sectorSize / MiniSectorSize;
        var seen = new BitArray((int)Math.Min(int.MaxValue, miniSectorCount));
        var miniSector = stream.StartSector;
        for (var at = 0; at < buffer.Length; at += MiniSectorSize)
        {
            if (miniSector >= miniSectorCount) throw new CompoundFileException($"{stream.Name}: mini sector {miniSector} is outside the mini stream");
            if (seen[(int)miniSector]) throw new CompoundFileException($"{stream.Name}: its mini sector chain loops");
            seen[(int)miniSector] = true;
            var offset = (long)miniSector * MiniSectorSize;
            var sector = _miniStreamSectors[offset / _sectorSize];
            CopySectorPart(sector, (int)(offset % _sectorSize), buffer.AsSpan(at, Math.Min(MiniSectorSize, buffer.Length - at)), stream.Name);
            if (at + MiniSectorSize < buffer.Length) miniSector = MiniFatNext(miniSector, stream.Name);
        }
    }

    private uint MiniFatNext(uint miniSector, string what)
    {
        var perSector = _sectorSize / 4;
        var index = miniSector / perSector;
        if (index >= _miniFatSectors.Length) throw new CompoundFileException($"{what}: mini sector {miniSector} has no mini FAT entry");
        Span<byte> next = stackalloc byte[4];
        CopySectorPart(_miniFatSectors[index], (int)(miniSector % perSector) * 4, next, what);
        return BinaryPrimitives.ReadUInt32LittleEndian(next);
    }

    /// <summary>
    /// The sectors of a chain from <paramref name="start"/>: exactly <paramref name="expectedSectors"/> of them, or up
    /// to its end-of-chain mark when that is not known. Every sector must exist and be visited once.
    /// </summary>
    private uint[] Chain(uint start, int? expectedSectors, string what)
    {
        if (expectedSectors > _sectorCount) throw new CompoundFileException($"{what}: longer than the file");
        var sectors = new List<uint>(expectedSectors ?? 4);
        var seen = new BitArray(_sectorCount);
        var sector = start;
        while (expectedSectors is null ? sector != EndOfChain : sectors.Count < expectedSectors)
        {
            if (sector >= _sectorCount)
                throw new CompoundFileException(sector == EndOfChain ? $"{what}: its sector chain ends early" : $"{what}: sector {sector:X} is outside the file");
            if (seen[(int)sector]) throw new CompoundFileException($"{what}: its sector chain loops");
            seen[(int)sector] = true;
            sectors.Add(sector);
            sector = FatNext(sector, what);
        }
        return [.. sectors];
    }

    private uint FatNext(uint sector, string what)
    {
        var perSector = _sectorSize / 4;
        var index = sector / perSector;
        if (index >= _fatSectors.Length) throw new CompoundFileException($"{what}: sector {sector} has no FAT entry");
        Span<byte> next = stackalloc byte[4];
        CopySectorPart(_fatSectors[index], (int)(sector % perSector) * 4, next, what);
        return BinaryPrimitives.ReadUInt32LittleEndian(next);
    }

    /// <summary>Copies bytes from one sector, checking that the sector exists and holds them.</summary>
    private void CopySectorPart(uint sector, int offset, Span<byte> into, string what)
    {
        if (sector >= _sectorCount) throw new CompoundFileException($"{what}: sector {sector:X} is outside the file");
        var at = (long)(sector + 1) * _sectorSize + offset;
        if (at + into.Length > _bytes.Length) throw new CompoundFileException($"{what}: sector {sector} is cut off (truncated file)");
        _bytes.Span.Slice((int)at, into.Length).CopyTo(into);
    }

    private static uint[] FatSectors(ReadOnlySpan<byte> span, int sectorSize, int sectorCount)
    {
        var count = BinaryPrimitives.ReadUInt32LittleEndian(span[44..]);
        if (count > (uint)sectorCount) throw new CompoundFileException("more FAT sectors than the file has");
        var fat = new uint[count];
        var filled = 0;
        for (var i = 0; i < HeaderDifatEntries && filled < fat.Length; i++)
            fat[filled++] = CheckedSector(BinaryPrimitives.ReadUInt32LittleEndian(span[(76 + 4 * i)..]), sectorCount, "FAT");
        var difat = BinaryPrimitives.ReadUInt32LittleEndian(span[68..]);
        var seen = new BitArray(sectorCount);
        var perDifat = sectorSize / 4 - 1;
        while (filled < fat.Length)
        {
            CheckedSector(difat, sectorCount, "DIFAT");
            if (seen[(int)difat]) throw new CompoundFileException("the DIFAT chain loops");
            seen[(int)difat] = true;
            var at = (long)(difat + 1) * sectorSize;
            if (at + sectorSize > span.Length) throw new CompoundFileException("a DIFAT sector is cut off (truncated file)");
            var sector = span.Slice((int)at, sectorSize);
            for (var i = 0; i < perDifat && filled < fat.Length; i++)
                fat[filled++] = CheckedSector(BinaryPrimitives.ReadUInt32LittleEndian(sector[(4 * i)..]), sectorCount, "FAT");
            difat = BinaryPrimitives.ReadUInt32LittleEndian(sector[(4 * perDifat)..]);
        }
        return fat;
    }

    private static uint CheckedSector(uint sector, int sectorCount, string what) =>
        sector < sectorCount ? sector : throw new CompoundFileException($"a {what} sector ({sector:X}) is outside the file");

    private static CompoundFileEntry Entry(int id, ReadOnlySpan<byte> raw, int major, long fileLength)
    {
        var type = (CompoundFileEntryType)raw[66];
        var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(raw[64..]);
        if (type == CompoundFileEntryType.Unknown) return new CompoundFileEntry(id, "", type, NoStream, NoStream, NoStream, 0, 0);
        if (type is not (CompoundFileEntryType.Storage or CompoundFileEntryType.Stream or CompoundFileEntryType.Root))
            throw new CompoundFileException($"directory entry {id} has an unknown type {raw[66]}");
        if (nameLength > 64 || nameLength % 2 != 0) throw new CompoundFileException($"directory entry {id} has a name length of {nameLength}");
        var name = Encoding.Unicode.GetString(raw[..Math.Max(0, nameLength - 2)]);
        // Version 3 files keep only 32 bits of size; the high half may be garbage (MS-CFB 2.6.3).
        var size = major == 3 ? BinaryPrimitives.ReadUInt32LittleEndian(raw[120..]) : BinaryPrimitives.ReadInt64LittleEndian(raw[120..]);
        if (size < 0 || size > fileLength) throw new CompoundFileException($"directory entry {id} declares {size} bytes, more than the file");
        return new CompoundFileEntry(id, name, type, BinaryPrimitives.ReadUInt32LittleEndian(raw[68..]),
            BinaryPrimitives.ReadUInt32LittleEndian(raw[72..]), BinaryPrimitives.ReadUInt32LittleEndian(raw[76..]),
            BinaryPrimitives.ReadUInt32LittleEndian(raw[116..]), size);
    }

    private static int SectorsFor(long bytes, int size) => (int)Math.Min(int.MaxValue, (bytes + size - 1) / size);
}
