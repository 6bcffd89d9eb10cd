/** A random (version 4) UUID; getRandomValues works on plain http pages where randomUUID does not. */
export declare function uuid(): string;
export declare const now: () => number;
export declare const iso: (t?: number) => string;
export declare function parse(s: string | null | undefined): any;
