export declare const VERSION: string;
/** Page, screen, locale, time zone and library; session and campaign are added by the tracker. */
export declare function pageContext(referrer: string): {
    page: {
        url: string;
        path: string;
        search: string;
        title: string;
        referrer: string;
    };
    screen: {
        width: number;
        height: number;
        density: number;
    };
    viewport: {
        width: number;
        height: number;
    };
    locale: string;
    timezone: string | undefined;
    library: {
        name: string;
        version: string;
    };
};
