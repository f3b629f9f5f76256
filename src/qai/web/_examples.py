"""The eight examples on the home page: a label, and the prompt it puts in the box."""

from __future__ import annotations

EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "Netflix clone",
        "Build a Netflix-style home page: a dark theme, a hero banner with a featured movie, "
        "and horizontally scrolling rows of movie posters by genre that grow on hover and open "
        "a details modal. Use local placeholder data.",
    ),
    (
        "Admin dashboard",
        "Build an admin dashboard: a sidebar with navigation, cards with key numbers, a bar "
        "chart and a line chart drawn with plain SVG, and a sortable table of recent orders. "
        "Use local placeholder data.",
    ),
    (
        "Kanban board",
        "Build a kanban board with To do, In progress and Done columns: add, edit and delete "
        "cards, drag them between columns, and keep the board in localStorage.",
    ),
    (
        "File manager",
        "Build a file manager: a folder tree on the left, a grid or list of files on the right, "
        "breadcrumbs, rename, delete and create folder actions, and a search box. Keep the files "
        "in memory.",
    ),
    (
        "YouTube clone",
        "Build a YouTube-style home page: a header with a search bar, a sidebar of categories, "
        "and a responsive grid of video cards with thumbnail, title, channel and view count. "
        "Use local placeholder data.",
    ),
    (
        "Store page",
        "Build a store page: a grid of products with image, name and price, filters by category "
        "and price, and a cart drawer that adds, removes and totals items.",
    ),
    (
        "Airbnb clone",
        "Build an Airbnb-style listings page: a search bar with destination, dates and guests, "
        "category filters, and a grid of property cards with photo, rating, location and price "
        "per night. Use local placeholder data.",
    ),
    (
        "Spotify clone",
        "Build a Spotify-style music player: a sidebar with playlists, a main area of albums, "
        "and a player bar at the bottom with play/pause, next, previous and a progress bar. "
        "Use local placeholder data.",
    ),
)
