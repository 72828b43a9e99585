namespace MailScanner.Actors.Identity;

public enum FileKind { Regular, Directory, Symlink, Fifo, Socket, CharacterDevice, BlockDevice, Unknown }

/// <summary>What lstat says about a directory entry, without following it or opening it.</summary>
public sealed record FileStatus(FileKind Kind, ulong Device, ulong Inode, long Size, DateTime ModifiedUtc, uint Mode);
