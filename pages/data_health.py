"""Admin · Data health: does the warehouse match the LoopLens contract?"""

from components.health_view import render_health_page

render_health_page()
